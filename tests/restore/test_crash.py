"""Crash injection: SIGKILL a rollback at many moments of its apply phase; ``recover`` must
leave the tree exactly at the target or exactly as before, and ``verify`` must pass."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import SAFEPOINT, snapshot, sp, state_dir, write

pytestmark = pytest.mark.slow  # 30 kill -9 rollbacks of a 3,000-file tree: about a minute

KILLS = 30
DIRS, FILES_PER_DIR = 60, 50  # 3,000 files


def build(root: Path, rng: random.Random) -> None:
    for d in range(DIRS):
        for f in range(FILES_PER_DIR):
            write(root / f"app{d:02}" / f"mod{f:02}.py", rng.randbytes(rng.randint(100, 4000)))
    write(root / "logs" / "app.log", "excluded\n")
    write(root / "media" / "u.jpg", b"excluded")
    write(root / "db.sqlite3", b"excluded")


def mutate(root: Path, rng: random.Random) -> None:
    files = sorted(root.glob("app*/*.py"))
    rng.shuffle(files)
    for path in files[:1500]:
        path.write_bytes(rng.randbytes(rng.randint(100, 4000)))
    for path in files[1500:1800]:
        path.unlink()
    for path in files[1800:1900]:
        os.chmod(path, 0o600)
    for i in range(300):
        write(root / f"new{i % 10}" / f"added{i}.py", rng.randbytes(500))
    shutil.rmtree(root / "app59")
    shutil.rmtree(root / "app58")
    write(root / "app58", "a file where a directory was\n")


def reset(site: Path, pristine: Path) -> None:
    shutil.rmtree(site)
    shutil.copytree(pristine, site, symlinks=True)


def start_rollback(site: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [SAFEPOINT, "rollback", "A", "--yes", "--no-health"],
        cwd=site,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for_journal(proc: subprocess.Popen[bytes], journal: Path) -> float | None:
    """The moment the rollback wrote its journal (its apply phase begins), or None."""
    while proc.poll() is None:
        if journal.exists():
            return time.monotonic()
        time.sleep(0.0005)
    return None


def test_sigkill_during_rollback_then_recover(tmp_path: Path) -> None:
    rng = random.Random(1234)
    site, repo = tmp_path / "site", tmp_path / "repo"
    build(site, rng)
    sp("init", cwd=site, check=True)
    (site / "safepoint.toml").write_text(f'[repository]\npath = "{repo}"\n')
    sp("init", cwd=site, check=True)
    sp("create", "--label", "A", cwd=site, check=True)
    state_a = snapshot(site)
    mutate(site, rng)
    state_b = snapshot(site)
    pristine = tmp_path / "pristine"
    shutil.copytree(site, pristine, symlinks=True)
    journal = state_dir(site) / "journal.json"

    # Calibrate: how long the apply phase (journal written -> process done) takes here.
    proc = start_rollback(site)
    began = wait_for_journal(proc, journal)
    proc.wait(timeout=300)
    assert proc.returncode == 0 and began is not None, proc.stderr.read() if proc.stderr else ""
    apply_seconds = time.monotonic() - began
    assert snapshot(site) == state_a

    outcomes = {"target": 0, "before": 0}
    for i in range(KILLS):
        reset(site, pristine)
        proc = start_rollback(site)
        began = wait_for_journal(proc, journal)
        if began is not None:
            delay = apply_seconds * (i + 0.5) / KILLS
            time.sleep(max(0.0, delay - (time.monotonic() - began)))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        recovered = sp("recover", cwd=site)
        assert recovered.returncode == 0, recovered.stderr
        assert not journal.exists()
        now = snapshot(site)
        assert now in (state_a, state_b), f"kill {i}: tree is neither the target nor as before"
        outcomes["target" if now == state_a else "before"] += 1
        verified = sp("verify", cwd=site)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    assert outcomes["target"] >= KILLS // 2, outcomes  # most kills landed inside the apply phase
