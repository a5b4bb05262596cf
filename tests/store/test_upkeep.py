"""What dead writers leave in the repository is cleaned by the next writer, which says how
much it freed, and never removes what a checkpoint needs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import SAFEPOINT, sp, write


def killed_create(site: Path, packs: Path) -> None:
    """Start ``create`` and SIGKILL it once it has written part of a pack."""
    proc = subprocess.Popen([SAFEPOINT, "create"], cwd=site, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if any(p.stat().st_size > 1024 * 1024 for p in packs.glob("*/*.pack.tmp")):
                break
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_killed_create_leftovers_are_swept_by_the_next_write(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for i in range(12):
        write(site / "static" / f"asset{i}.bin", os.urandom(4 * 1024 * 1024))
    write(site / "app.py", "print('hello')\n")
    sp("init", cwd=site, check=True)
    repo = site / ".safepoint"
    packs = repo / "packs"
    killed_create(site, packs)
    leftovers = list(packs.glob("*/*.pack.tmp"))
    assert leftovers, "the create finished before it could be killed"
    left = sum(p.stat().st_size for p in leftovers)
    stale = repo / "checkpoints" / f".0123.json.tmp-{dead_pid()}"
    stale.write_bytes(b"{}")

    proc = sp("create", "--label", "after-the-crash", cwd=site)
    assert proc.returncode == 0, proc.stderr
    assert f"removed {len(leftovers) + 1} leftover file(s) of interrupted commands" in proc.stderr
    assert "MiB freed" in proc.stderr
    assert not list(packs.glob("*/*.pack.tmp")) and not stale.exists()
    assert left > 1024 * 1024
    verified = sp("verify", cwd=site)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # Nothing left to sweep: the next write says nothing.
    again = sp("create", cwd=site)
    assert again.returncode == 0 and "leftover" not in again.stderr


def test_a_live_writers_temporary_file_is_left_alone(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write(site / "app.py", "x\n")
    sp("init", cwd=site, check=True)
    live = site / ".safepoint" / f".head.json.tmp-{os.getpid()}"
    live.write_bytes(b"{}")
    proc = sp("create", cwd=site)
    assert proc.returncode == 0 and "leftover" not in proc.stderr
    assert live.exists()
