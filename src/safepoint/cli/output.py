r"""Human and machine output: ``--json`` prints one JSON document on stdout; otherwise tables
fitted to the terminal, warnings on stderr, and a progress bar on a terminal only.

Human output never lets stored text act on the terminal: labels, notes, paths, hook output and
check details can hold anything (an import, a hostile label), so every line goes through
``printable``, which shows control characters as visible escapes (``\x1b``), and no text is
ever read as rich markup.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from safepoint.cli.env import Environment
from safepoint.cli.table import Column, Section, render
from safepoint.diskspace import human_size as human_size  # re-exported for the commands
from safepoint.progress import NullProgress
from safepoint.progress import Progress as ProgressProtocol

# C0 and C1 controls and DEL; the bidirectional overrides and isolates, which reorder what a
# line shows ("Trojan Source"); and C1 bytes of a non-UTF-8 name (surrogate escapes), which
# some terminals take as control sequences when written back as bytes.
_UNSAFE = re.compile(
    "[\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\udc80-\\udc9f]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDC9F:
        return f"\\x{code - 0xDC00:02x}"  # the byte the name holds
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape_in_text(match: re.Match[str]) -> str:
    return match.group() if match.group() in "\n\t" else _escape(match)


def printable(text: str, *, lines: bool = False) -> str:
    r"""``text`` with every control character shown as an escape (ESC as ``\x1b``, a newline
    as ``\n``). With ``lines``, newlines and tabs are kept (a note is a document; a CRLF line
    end shows as the newline it is)."""
    if lines:
        return _UNSAFE.sub(_escape_in_text, text.replace("\r\n", "\n"))
    return _UNSAFE.sub(_escape, text)


class Output:
    def __init__(self, env: Environment, *, json_mode: bool) -> None:
        self.env = env
        self.json_mode = json_mode

    def json(self, doc: Any) -> None:
        self.env.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        self.env.json_written = True

    def json_rows(self, docs: Sequence[Any]) -> None:
        """A JSON array with one element per line: json's C encoder only runs without
        ``indent``, and a 10,000-row ``list --json`` spent most of its time indenting."""
        if not docs:
            self.json([])
            return
        rows = ",\n".join("  " + json.dumps(doc, default=str) for doc in docs)
        self.env.stdout.write(f"[\n{rows}\n]\n")
        self.env.json_written = True

    def line(self, text: str = "") -> None:
        if not self.json_mode:
            self.env.stdout.write(printable(text) + "\n")

    def raw(self, text: str) -> None:
        """Text of several lines (a note) as it is, control characters escaped."""
        self.env.stdout.write(printable(text, lines=True))

    def warn(self, text: str) -> None:
        self.env.stderr.write(f"safepoint: warning: {printable(text)}\n")

    def table(self, columns: Sequence[Column], sections: Sequence[Section]) -> None:
        """Rows in columns that fit the terminal (see table.py); a section's title is a
        separator line above its rows."""
        if self.json_mode:
            return
        safe = [
            Section(
                [[printable(cell) for cell in row] for row in s.rows],
                printable(s.title) if s.title is not None else None,
            )
            for s in sections
        ]
        width = self.env.width()
        for text in render(columns, safe, width, bold_header=self.env.stdout_isatty):
            self.env.stdout.write(text + "\n")

    def progress(self) -> ProgressProtocol:
        if self.json_mode or not self.env.stderr_isatty:
            return NullProgress()
        return RichProgress(self.env, delay=_delay(self.env))


class RichProgress:
    """A byte-counting bar on stderr that appears only once an operation has run for
    ``DELAY`` seconds (a quick command stays quiet) and is removed when it ends. Thread-safe:
    workers call ``advance``."""

    DELAY = 0.5

    def __init__(self, env: Environment, *, delay: float = DELAY) -> None:
        self._env = env
        self._delay = delay
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
                if time.monotonic() - self._pending[2] < self._delay:
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


def _delay(env: Environment) -> float:
    """``SAFEPOINT_PROGRESS_DELAY``: seconds before a bar appears (tests show it at once)."""
    try:
        return max(0.0, float(env.environ.get("SAFEPOINT_PROGRESS_DELAY", RichProgress.DELAY)))
    except ValueError:
        return RichProgress.DELAY


def human_duration(seconds: float) -> str:
    """``0.04s``, ``3.2s``, ``2m05s``: the precision a person reads, never ``0.00s`` for a
    measured step (a sub-10-ms one shows as ``<0.01s``)."""
    if seconds < 0.01:
        return "<0.01s"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"
