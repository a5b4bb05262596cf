"""Human and machine output: ``--json`` prints one JSON document on stdout; otherwise tables
(rich on a terminal, aligned plain text elsewhere), warnings on stderr, and a progress bar on a
terminal only."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import Any

from safepoint.cli.env import Environment
from safepoint.diskspace import human_size as human_size  # re-exported for the commands
from safepoint.progress import NullProgress
from safepoint.progress import Progress as ProgressProtocol


class Output:
    def __init__(self, env: Environment, *, json_mode: bool) -> None:
        self.env = env
        self.json_mode = json_mode

    def json(self, doc: Any) -> None:
        self.env.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")

    def line(self, text: str = "") -> None:
        if not self.json_mode:
            self.env.stdout.write(text + "\n")

    def raw(self, text: str) -> None:
        self.env.stdout.write(text)

    def warn(self, text: str) -> None:
        self.env.stderr.write(f"safepoint: warning: {text}\n")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        if self.json_mode:
            return
        if self.env.stdout_isatty:
            from rich.console import Console  # only on a terminal: rich takes a while to import
            from rich.table import Table

            table = Table(box=None, header_style="bold", pad_edge=False)
            for column in columns:
                table.add_column(column, no_wrap=True)  # a date cut in two is hard to read
            for row in rows:
                table.add_row(*row)
            Console(file=self.env.stdout).print(table)
            return
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
        for row in [columns, *rows]:
            self.env.stdout.write(
                "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n"
            )

    def progress(self) -> ProgressProtocol:
        if self.json_mode or not self.env.stderr_isatty:
            return NullProgress()
        return RichProgress(self.env)


class RichProgress:
    """A byte-counting bar on stderr that appears only once an operation has run for
    ``DELAY`` seconds (a quick command stays quiet) and is removed when it ends. Thread-safe:
    workers call ``advance``."""

    DELAY = 0.5

    def __init__(self, env: Environment) -> None:
        self._env = env
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        self._pending: tuple[str, int, float] | None = None  # description, total, start time
        self._done = 0

    def start(self, description: str, total: int) -> None:
        with self._lock:
            self._pending = (description, max(total, 1), time.monotonic())
            self._done = 0

    def advance(self, amount: int) -> None:
        with self._lock:
            self._done += amount
            if self._bar is None and self._pending is not None:
                if time.monotonic() - self._pending[2] < self.DELAY:
                    return
                self._show()
            if self._bar is not None:
                self._bar.update(self._task, completed=self._done)

    def finish(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
            self._bar = self._task = self._pending = None

    def _show(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        assert self._pending is not None
        description, total, _ = self._pending
        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=Console(file=self._env.stderr),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total)

