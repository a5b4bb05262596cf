"""The environment a command runs in: streams, whether they are terminals, variables. Passed
in rather than read from globals, so tests can substitute it."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO


@dataclass
class Environment:
    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    columns: int | None = None  # a width to fit human output into, whatever stdout is

    def width(self) -> int | None:
        """Columns that human output should fit: ``columns``, else ``COLUMNS``, else the
        terminal's width; None (no limit) when stdout is not a terminal, so that a pipe gets
        whole lines."""
        if self.columns is not None:
            return self.columns
        value = self.environ.get("COLUMNS", "")
        if value.isdigit() and int(value) > 0:
            return int(value)
        if not self.stdout_isatty:
            return None
        try:
            return os.get_terminal_size(self.stdout.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            return 80
    json_mode: bool = False  # the command was given --json: errors become a JSON object too
    json_written: bool = False  # the command printed its JSON document
    wait: float | None = None  # --wait: seconds a writer waits for a remote repository's lock

    @property
    def stdin_isatty(self) -> bool:
        return _isatty(self.stdin)

    @property
    def stdout_isatty(self) -> bool:
        return _isatty(self.stdout)

    @property
    def stderr_isatty(self) -> bool:
        return _isatty(self.stderr)


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, AttributeError):
        return False
