"""Running one operator-supplied shell command with a deadline, in its own process group.

Health command checks and ``after_restore`` hooks both run shell strings from ``safepoint.toml``,
and both must come back on time no matter what the command does. Two things make that hold:

- The shell starts a new session (``start_new_session=True``), so its pid is the id of a process
  group that holds everything it forks. At the deadline the whole group is killed: a
  ``sleep 100`` started by the command dies with it instead of outliving safepoint.
- Output goes to unlinked temporary files, not pipes, and "finished" means "the shell exited",
  not "the output reached end of file". A hook that starts a daemon in the background
  (``gunicorn ... &``) leaves a child holding stdout open; with a pipe we would wait for that
  daemon to exit, and once the pipe filled the daemon would block on its own logging.

stdin is ``/dev/null`` and there is no controlling terminal, so a command that prompts (``sudo``
asking for a password) fails at once instead of hanging until the deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

OUTPUT_TAIL = 4096
"""Bytes of stdout and of stderr kept for the report; the start of a long output is dropped."""

TERM_GRACE = 0.5
"""Seconds a timed-out command gets between SIGTERM and SIGKILL to clean up after itself."""

_POLL = 0.05


@dataclass(frozen=True)
class Completed:
    """How one run of a shell command ended."""

    command: str
    returncode: int | None
    """The exit status; negative for a signal; None when it was killed at the deadline."""
    duration: float
    stdout: str
    """The last :data:`OUTPUT_TAIL` bytes of standard output, decoded leniently."""
    stderr: str
    timeout: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def last_line(self) -> str:
        """The last non-empty line of stderr, or of stdout when stderr is empty: usually the
        one line that says what went wrong."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return ""

    @property
    def outcome(self) -> str:
        """``exit 1``, ``killed by SIGSEGV`` or ``timed out after 5s``, without the output."""
        if self.returncode is None:
            return f"timed out after {format_seconds(self.timeout)}"
        if self.returncode < 0:
            return f"killed by {_signal_name(-self.returncode)}"
        return f"exit {self.returncode}"

    def describe(self) -> str:
        """The outcome and the last line of output, for a one-line report."""
        line = self.last_line
        return f"{self.outcome}: {line}" if line else self.outcome


def run_shell(
    command: str,
    *,
    cwd: Path,
    timeout: float,
    on_line: Callable[[str], None] | None = None,
    kill_leftovers: bool = False,
    stop: threading.Event | None = None,
) -> Completed:
    """Run ``command`` with ``/bin/sh`` in ``cwd`` and wait at most ``timeout`` seconds for the
    shell to exit; past that the process group gets SIGTERM, then SIGKILL.

    ``on_line`` receives each line of output (stdout and stderr) as it appears; lines of the
    two streams written within a few tens of milliseconds may arrive out of order. With
    ``kill_leftovers`` the process group is also killed after a normal exit, for callers that
    promise to leave nothing running (a health check); a hook may legitimately start a daemon.
    When ``stop`` is set (Ctrl-C in the thread that waits for this one), the command is killed
    as at its timeout.

    Raises ``OSError`` when the command cannot be started at all (``cwd`` missing).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            command,
            shell=True,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        streams = [_LineStream(out, on_line), _LineStream(err, on_line)] if on_line else []
        try:
            returncode = _wait(proc, started + timeout, streams, stop)
        except BaseException:
            _kill_group(proc)  # Ctrl-C: the command is in its own session and would run on
            raise
        duration = time.monotonic() - started
        if returncode is None:
            _kill_group(proc)
        elif kill_leftovers:
            _signal_group(proc.pid, signal.SIGKILL)
        for stream in streams:
            stream.pump(final=True)
        return Completed(
            command=command,
            returncode=returncode,
            duration=duration,
            stdout=_tail(out),
            stderr=_tail(err),
            timeout=timeout,
        )


def format_seconds(seconds: float) -> str:
    """``5s``, ``0.5s``: how a configured duration is shown back to the operator."""
    return f"{round(seconds, 2):g}s"  # a deadline's remainder is not 17.9988s


def _wait(
    proc: subprocess.Popen[bytes],
    deadline: float,
    streams: list[_LineStream],
    stop: threading.Event | None,
) -> int | None:
    poll = bool(streams) or stop is not None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (stop is not None and stop.is_set()):
            return None
        try:
            return proc.wait(timeout=min(remaining, _POLL) if poll else remaining)
        except subprocess.TimeoutExpired:
            for stream in streams:
                stream.pump()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=TERM_GRACE)
    # Children that ignored SIGTERM (or that the shell never passed it to) are still in the
    # group even after the shell is gone, so the group gets SIGKILL either way.
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is empty
        os.killpg(pgid, sig)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _tail(file: BinaryIO) -> str:
    # pread, never seek: the child shares this file's offset, and moving it would make the
    # child's next write land in the middle of what it already wrote.
    size = os.fstat(file.fileno()).st_size
    start = max(0, size - OUTPUT_TAIL)
    data = os.pread(file.fileno(), size - start, start)
    return data.decode("utf-8", errors="replace")


class _LineStream:
    """Hands complete lines of a growing output file to a callback."""

    def __init__(self, file: BinaryIO, on_line: Callable[[str], None]) -> None:
        self.file, self.on_line = file, on_line
        self.offset = 0
        self.partial = b""

    def pump(self, *, final: bool = False) -> None:
        fd = self.file.fileno()
        size = os.fstat(fd).st_size
        if size > self.offset:
            self.partial += os.pread(fd, size - self.offset, self.offset)
            self.offset = size
        *lines, self.partial = self.partial.split(b"\n")
        if final and self.partial:
            lines.append(self.partial)
            self.partial = b""
        for line in lines:
            self.on_line(line.rstrip(b"\r").decode("utf-8", errors="replace"))
