"""guard decisions, with a command check the test controls through a flag file outside the
site: it rolls back once per failure, respects the cooldown, and leaves files alone when no
known-good checkpoint differs from them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import sp, sp_json, write


def make_site(tmp_path: Path) -> tuple[Path, Path]:
    root, flag = tmp_path / "site", tmp_path / "healthy.flag"
    write(root / "app.py", "print('v1')\n")
    sp("init", cwd=root, check=True)
    (root / "safepoint.toml").write_text(
        f'[health]\nretries = 1\ntimeout = 2\n[[health.command]]\nrun = "test -f {flag}"\n'
    )
    flag.touch()
    return root, flag


def poll(root: Path, *extra: str) -> str:
    return sp("guard", "--once", "--failures", "2", *extra, cwd=root).stdout


@pytest.mark.slow  # several guard polls, each with its rollback: 5-6 s
def test_rolls_back_once_per_failure_and_rearms_when_healthy(tmp_path: Path) -> None:
    root, flag = make_site(tmp_path)
    sp("create", "--label", "v1", "--verify-health", cwd=root, check=True)
    write(root / "app.py", "print('v2')\n")
    flag.unlink()  # the failure is outside the files: a rollback will not cure it
    assert "unhealthy (1/2)" in poll(root)
    out = poll(root)
    assert "rolling back to known-good checkpoint" in out and "rollback undone" in out
    assert (root / "app.py").read_text() == "print('v2')\n"  # the undo put v2 back
    assert "already rolled back for this failure" in poll(root)
    assert "already rolled back for this failure" in poll(root)
    flag.touch()
    assert "re-armed" in poll(root)
    kinds = [c["kind"] for c in sp_json("list", cwd=root)]
    assert kinds.count("safety") == 1


@pytest.mark.slow
def test_cooldown_blocks_a_second_rollback(tmp_path: Path) -> None:
    root, flag = make_site(tmp_path)
    sp("create", "--label", "v1", "--verify-health", cwd=root, check=True)
    write(root / "app.py", "print('v2')\n")
    flag.unlink()
    poll(root, "--cooldown", "3600")
    assert "rolling back" in poll(root, "--cooldown", "3600")
    flag.touch()
    poll(root, "--cooldown", "3600")  # healthy: re-armed
    flag.unlink()
    poll(root, "--cooldown", "3600")
    assert "in cooldown" in poll(root, "--cooldown", "3600")


@pytest.mark.slow
def test_no_rollback_when_the_files_already_match_known_good(tmp_path: Path) -> None:
    root, flag = make_site(tmp_path)
    sp("create", "--label", "v1", "--verify-health", cwd=root, check=True)
    flag.unlink()
    poll(root)
    assert "a rollback cannot fix this failure" in poll(root)
    assert [c["kind"] for c in sp_json("list", cwd=root)] == ["manual"]


def test_guard_without_checks_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "site"
    write(root / "app.py", "x\n")
    sp("init", cwd=root, check=True)
    proc = sp("guard", "--once", cwd=root)
    assert proc.returncode == 2 and "no health checks configured" in proc.stderr


@pytest.mark.slow  # several guard polls, each with its rollback: 5-6 s
def test_a_rollback_that_could_not_run_is_tried_again_at_the_next_poll(tmp_path: Path) -> None:
    """Another safepoint process holds the repository lock when the guard decides to roll
    back: nothing happened, so the guard stays armed and rolls back at the next poll."""
    root, _ = make_site(tmp_path)
    (root / "safepoint.toml").write_text(
        '[health]\nretries = 1\ntimeout = 2\n[[health.command]]\nrun = "grep -q v1 app.py"\n'
    )
    sp("create", "--label", "v1", "--verify-health", cwd=root, check=True)
    write(root / "app.py", "print('v2')\n")  # the change that breaks the site
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(root / ".safepoint" / "lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert "unhealthy (1/2)" in poll(root)
        out = poll(root)
        assert "could not roll back, will try again at the next poll" in out, out
        assert "locked by another" in out
        assert (root / "app.py").read_text() == "print('v2')\n"
    finally:
        holder.kill()
        holder.wait(timeout=10)
    out = poll(root)
    assert "rolling back to known-good checkpoint" in out, out
    assert "rolled back to" in out and "already rolled back" not in out
    assert (root / "app.py").read_text() == "print('v1')\n"
