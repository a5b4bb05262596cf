"""A locked repository names its holder (pid, command, since when); the flock stays the truth:
what a holder killed with -9 left in the lock file misleads nobody."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import SAFEPOINT, assert_one_line_error, sp, sp_json, write


def _wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _slow_rollback(site: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    """A real ``safepoint rollback`` that holds the lock inside its hook until told to go on."""
    first = sp_json("create", cwd=site)["id"]
    write(site / "eventsite" / "urls.py", "urlpatterns = ['changed']\n")
    sp("create", cwd=site, check=True)
    started, release = tmp_path / "hook-started", tmp_path / "release"
    hook = (
        f"touch {started}; i=0; while [ ! -f {release} ] && [ $i -lt 600 ]; "
        "do sleep 0.1; i=$((i+1)); done"
    )
    write(site / "safepoint.toml", f'[hooks]\nafter_restore = ["{hook}"]\n')
    proc = subprocess.Popen(
        [SAFEPOINT, "rollback", first, "--yes", "--no-health"],
        cwd=site,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(started, proc)
    return proc, started, release


@pytest.mark.slow
def test_a_locked_repository_names_the_holder(site: Path, tmp_path: Path) -> None:
    proc, _, release = _slow_rollback(site, tmp_path)
    try:
        for command in (["create"], ["rollback", "latest", "--yes"]):
            failed = sp(*command, cwd=site)
            assert_one_line_error(failed, 1)
            match = re.search(
                r"is locked by pid (\d+) \(safepoint rollback \w+ --yes --no-health\) "
                r"since (\d\d:\d\d:\d\d)$",
                failed.stderr.strip(),
            )
            assert match, failed.stderr
            assert int(match.group(1)) == proc.pid
        assert sp("list", cwd=site).returncode == 0  # readers need no lock
    finally:
        release.touch()
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (site / ".safepoint" / "lock").read_bytes() == b""  # the holder forgot itself
    sp("create", cwd=site, check=True)


def test_the_text_a_killed_holder_left_does_not_lock_or_mislead(site: Path, tmp_path: Path) -> None:
    proc, _, release = _slow_rollback(site, tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    release.touch()
    lock = site / ".safepoint" / "lock"
    assert f'"pid": {proc.pid}' in lock.read_text()  # left behind by the kill
    sp("recover", cwd=site, check=True)  # the flock was freed by the kill: not locked
    assert lock.read_bytes() == b""
    # Held by a process that wrote nothing (an older safepoint): the plain message.
    import fcntl

    write(
        lock,
        f'{{"pid": {proc.pid}, "command": "safepoint old", "since": "2020-01-01T00:00:00+00:00"}}',
    )
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        failed = sp("create", cwd=site)
        assert_one_line_error(failed, 1)
        assert "locked by another safepoint process" in failed.stderr  # its pid is dead
    finally:
        os.close(fd)
