"""Human and machine output: ``--json`` prints one JSON document on stdout; otherwise tables
(rich on a terminal, aligned plain text elsewhere), warnings on stderr, and a progress bar on a
terminal only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from safepoint.cli.env import Environment
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

            table = Table(*columns, box=None, header_style="bold")
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
    """A byte-counting bar on stderr, removed when the operation ends."""

    def __init__(self, env: Environment) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        console = Console(file=env.stderr)
        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task: Any = None

    def start(self, description: str, total: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task(description, total=max(total, 1))

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._bar.advance(self._task, amount)

    def finish(self) -> None:
        self._bar.stop()


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
