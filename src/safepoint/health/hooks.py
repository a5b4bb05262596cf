"""``after_restore`` hooks: the commands that make the app pick up the files a restore wrote.

Typically ``systemctl reload gunicorn`` or ``kill -HUP $(cat /run/gunicorn.pid)``. They run with
the shell, in the site root, one after the other in the configured order, and the first failure
stops the rest: a later hook usually assumes an earlier one worked (reload after migrate).

A hook that exits is done, even if it left a process running in the background: starting a
daemon is a legitimate thing for a restart script to do. A hook still running at its timeout is
killed together with everything it started.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from safepoint.errors import OperationalError
from safepoint.health.process import Completed, run_shell


@dataclass(frozen=True)
class HookResult:
    command: str
    returncode: int | None
    """None when the hook was killed at its timeout."""
    duration: float
    output: str
    """The end of what the hook wrote, stderr after stdout."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @classmethod
    def of(cls, done: Completed) -> HookResult:
        output = "\n".join(text.rstrip("\n") for text in (done.stdout, done.stderr) if text)
        return cls(done.command, done.returncode, done.duration, output)


class HookError(OperationalError):
    """A hook failed or timed out; ``results`` holds every hook that ran, the failed one last."""

    def __init__(self, message: str, results: list[HookResult]) -> None:
        super().__init__(message)
        self.results = results


def run_hooks(
    commands: Sequence[str],
    *,
    root: Path,
    timeout: float = 300,
    output: Callable[[str], None] | None = None,
) -> list[HookResult]:
    """Run each command in ``root`` in order; return their results, or raise :class:`HookError`
    at the first that fails or runs longer than ``timeout`` seconds.

    ``output`` receives every line the hooks print, as they print it.
    """
    results: list[HookResult] = []
    for command in commands:
        try:
            done = run_shell(command, cwd=root, timeout=timeout, on_line=output)
        except OSError as exc:
            raise HookError(f"hook {command!r} could not be started: {exc}", results) from None
        results.append(HookResult.of(done))
        if done.timed_out:
            raise HookError(f"hook {command!r} {done.outcome} and was killed", results)
        if not done.ok:
            raise HookError(_failure(done), results)
    return results


def _failure(done: Completed) -> str:
    assert done.returncode is not None
    verb = "failed with" if done.returncode > 0 else "was"  # "was killed by SIGSEGV"
    message = f"hook {done.command!r} {verb} {done.outcome}"
    return f"{message}: {done.last_line}" if done.last_line else message
