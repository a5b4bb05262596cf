"""after_restore hooks run as real shell commands in a temporary site root."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from safepoint.errors import ExitStatus, OperationalError
from safepoint.health import HookError, HookResult, run_hooks


def test_hooks_run_in_order_in_the_root(tmp_path: Path) -> None:
    results = run_hooks(
        ["echo one >> order.txt", "echo two >> order.txt; echo done", "pwd > where.txt"],
        root=tmp_path,
    )
    assert (tmp_path / "order.txt").read_text() == "one\ntwo\n"
    assert (tmp_path / "where.txt").read_text().strip() == str(tmp_path)
    assert [r.returncode for r in results] == [0, 0, 0]
    assert results[1].output == "done"
    assert all(isinstance(r, HookResult) and r.ok and r.duration >= 0 for r in results)


def test_no_hooks(tmp_path: Path) -> None:
    assert run_hooks([], root=tmp_path) == []


def test_first_failure_stops_the_rest(tmp_path: Path) -> None:
    commands = [
        "touch first",
        "echo 'reloading' ; echo 'Failed to reload gunicorn.service: Unit not found.' >&2; exit 5",
        "touch third",
    ]
    with pytest.raises(HookError) as caught:
        run_hooks(commands, root=tmp_path)
    error = caught.value
    assert isinstance(error, OperationalError) and error.exit_code == ExitStatus.ERROR
    assert str(error) == (
        f"hook {commands[1]!r} failed with exit 5: "
        "Failed to reload gunicorn.service: Unit not found."
    )
    assert (tmp_path / "first").exists() and not (tmp_path / "third").exists()
    assert [r.returncode for r in error.results] == [0, 5]
    assert "Unit not found" in error.results[-1].output


def test_failure_without_output(tmp_path: Path) -> None:
    with pytest.raises(HookError, match=r"^hook 'false' failed with exit 1$"):
        run_hooks(["false"], root=tmp_path)


def test_hook_killed_by_a_signal(tmp_path: Path) -> None:
    with pytest.raises(HookError, match=r"^hook 'kill -SEGV \$\$' was killed by SIGSEGV$"):
        run_hooks(["kill -SEGV $$"], root=tmp_path)


def test_timeout_kills_the_hook_and_its_children(
    tmp_path: Path, assert_gone: Callable[[int], None]
) -> None:
    command = "sleep 100 & echo $! > child.pid; wait"
    started = time.monotonic()
    with pytest.raises(HookError) as caught:
        run_hooks([command, "touch after"], root=tmp_path, timeout=0.5)
    assert time.monotonic() - started < 10  # not the 100 s the hook sleeps
    assert str(caught.value) == f"hook {command!r} timed out after 0.5s and was killed"
    assert caught.value.results[-1].returncode is None
    assert not (tmp_path / "after").exists()
    assert_gone(int((tmp_path / "child.pid").read_text()))


def test_a_daemon_started_by_a_hook_does_not_hold_it_up(
    tmp_path: Path, assert_gone: Callable[[int], None]
) -> None:
    # A restart script may start the app in the background; the hook is done when the shell
    # exits even though the daemon still holds the hook's stdout, and the daemon survives.
    started = time.monotonic()
    results = run_hooks(["sleep 30 & echo $! > daemon.pid; echo started"], root=tmp_path)
    assert time.monotonic() - started < 10  # not the 30 s the daemon sleeps
    assert results[0].output == "started"
    pid = int((tmp_path / "daemon.pid").read_text())
    assert Path(f"/proc/{pid}").exists()
    os.kill(pid, signal.SIGKILL)
    assert_gone(pid)


def test_output_is_streamed_line_by_line(tmp_path: Path) -> None:
    lines: list[tuple[float, str]] = []
    started = time.monotonic()
    run_hooks(
        ["echo first; sleep 1; echo second >&2; sleep 1; printf 'no newline'"],
        root=tmp_path,
        output=lambda line: lines.append((time.monotonic() - started, line)),
    )
    # Seconds apart, so that a busy machine (tests in parallel) cannot reorder the two streams
    # (run_shell: lines written within tens of milliseconds may arrive out of order).
    assert [line for _, line in lines] == ["first", "second", "no newline"]
    assert lines[0][0] < 1  # seen before the command wrote more, not collected at the end


def test_hook_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(HookError, match="could not be started"):
        run_hooks(["true"], root=tmp_path / "missing")
