"""Ctrl-C exits 130 with one line and no traceback, wherever it lands: in the thread pool of a
create, in the wait for a health check's command or a hook. It used to print "aborted" and
exit 1 (click's Abort), after first finishing every queued task."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import PROGRESS, SAFEPOINT, snapshot, sp, sp_json, write


def _start(site: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "SAFEPOINT_ROOT"}
    return subprocess.Popen(
        [SAFEPOINT, *args],
        cwd=site,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until(condition, proc: subprocess.Popen[str], seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, ("exited before the interrupt", proc.communicate())
        assert time.monotonic() < deadline, "never reached the point to interrupt"
        time.sleep(0.01)


def _interrupt(proc: subprocess.Popen[str]) -> tuple[str, str, float]:
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("still running 30 s after Ctrl-C") from None
    return out, err, time.monotonic() - sent


def _assert_interrupted(proc: subprocess.Popen[str], err: str) -> None:
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    # Progress lines of the health proof may come first (one per attempt, without a TTY).
    assert [line for line in lines if not line.startswith(PROGRESS)] == [
        "safepoint: interrupted"
    ], err
    assert lines[-1] == "safepoint: interrupted", err


def _gone(pid: int, seconds: float = 10) -> bool:
    """Whether ``pid`` ends within ``seconds``; if not, it is killed (nothing left running)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return False


@pytest.mark.slow
def test_ctrl_c_during_create_of_a_large_tree(site: Path) -> None:
    sp("create", cwd=site, check=True)
    for i in range(100):
        write(site / "big" / f"blob{i:03}.bin", os.urandom(2 * 1024 * 1024))
    repo = site / ".safepoint"
    records = set((repo / "checkpoints").iterdir())
    proc = _start(site, "create")
    _wait_until(lambda: any(repo.glob("packs/*/*.pack.tmp")), proc)
    _, err, took = _interrupt(proc)
    _assert_interrupted(proc, err)
    assert took < 20  # the queued files were dropped, not all read first
    assert not list(repo.glob("packs/*/*.tmp"))  # the partial pack was removed
    assert set((repo / "checkpoints").iterdir()) == records
    assert sp_json("create", cwd=site)["files"] > 100  # nothing left locked or half-written


def _hanging_health(site: Path, tmp_path: Path, toml: str) -> tuple[subprocess.Popen[str], int]:
    """``safepoint health`` running a check that hangs; (the command, the check's pid)."""
    pidfile = tmp_path / "check.pid"
    write(
        site / "safepoint.toml",
        f'[health]\n{toml}[[health.command]]\nrun = "echo $$ > {pidfile}; exec sleep 100"\n',
    )
    proc = _start(site, "health")
    _wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "", proc)
    return proc, int(pidfile.read_text())


def test_ctrl_c_while_a_health_check_runs(site: Path, tmp_path: Path) -> None:
    proc, check = _hanging_health(site, tmp_path, "timeout = 120\n")
    try:
        _, err, took = _interrupt(proc)
    finally:
        gone = _gone(check)
    _assert_interrupted(proc, err)
    assert took < 10
    assert gone, "the check's command was left running"


def test_ctrl_c_that_the_kernel_hands_to_a_worker_thread(site: Path, tmp_path: Path) -> None:
    """A process's SIGINT goes to any thread that does not block it; CI's loaded machine gave it
    to the health check's thread, and the main thread, blocked in ``pool.map``, slept on until
    the check's deadline (18 s). Sending it to that thread's id makes the kernel pick it."""
    proc, check = _hanging_health(site, tmp_path, "timeout = 120\ndeadline = 60\n")
    workers = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
    assert workers, "the check runs in a thread of its own"
    try:
        sent = time.monotonic()
        os.kill(max(workers), signal.SIGINT)  # a thread id: delivered to that very thread
        _out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        gone = _gone(check)
    _assert_interrupted(proc, err)
    assert took < 10
    assert gone, "the check's command was left running"


def test_ctrl_c_while_a_hook_runs(site: Path, tmp_path: Path) -> None:
    first = sp_json("create", cwd=site)["id"]
    write(site / "eventsite" / "urls.py", "urlpatterns = ['changed']\n")
    sp("create", cwd=site, check=True)
    pidfile = tmp_path / "hook.pid"
    write(
        site / "safepoint.toml",
        f'[hooks]\nafter_restore = ["echo $$ > {pidfile}; exec sleep 100"]\n',
    )
    proc = _start(site, "rollback", first, "--yes", "--json")
    _wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "", proc)
    hook = int(pidfile.read_text())
    # While the hook runs, not while it is being started: a signal inside subprocess.Popen
    # (between the fork and its return, a window of microseconds) loses the child's handle.
    time.sleep(0.3)
    try:
        out, err, _ = _interrupt(proc)
    finally:
        gone = _gone(hook)
    _assert_interrupted(proc, err)
    assert gone, "the hook was left running"
    assert '"kind": "interrupted"' in out and '"exit_code": 130' in out


def test_ctrl_c_at_the_confirmation_prompt_changes_nothing(site: Path) -> None:
    import pty
    import select

    first = sp_json("create", cwd=site)["id"]
    write(site / "eventsite" / "urls.py", "urlpatterns = ['changed']\n")
    sp("create", cwd=site, check=True)
    records = set((site / ".safepoint" / "checkpoints").iterdir())
    before = snapshot(site, skip=(".safepoint",))
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "SAFEPOINT_ROOT"}
    proc = subprocess.Popen(
        [SAFEPOINT, "rollback", first], cwd=site, env=env, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"[y/N]" not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, seen
            if select.select([master], [], [], 0.1)[0]:
                seen += os.read(master, 65536)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = seen.decode(errors="replace")
    assert proc.returncode == 130, text
    assert "safepoint: interrupted" in text and "Traceback" not in text
    assert snapshot(site, skip=(".safepoint",)) == before
    assert set((site / ".safepoint" / "checkpoints").iterdir()) == records
