"""kill -9 campaigns over the paths after the first rollback: ``recover`` itself, and the undo
of an unhealthy rollback. After each kill, a final ``recover`` must leave the site wholly at
one side, byte for byte, and the repository must verify.

(tests/restore/test_crash.py kills the first rollback.)"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SAFEPOINT, snapshot, sp, sp_json, state_dir, write
from tests.restore.test_faults import tmpfs

RUNS = 30
# A campaign must kill mid-way often enough to mean something. The kill times are drawn over
# one calibration run's length; on a shared machine later runs can be much faster than it (a
# seed once landed 12 of 30 under load), so a third, not half, is asked for.
LANDED = RUNS // 3
DIRS, FILES = 16, 25  # 400 files: a switch that takes a while, yet 30 runs stay short


def build(root: Path, rng: random.Random) -> None:
    for d in range(DIRS):
        for f in range(FILES):
            write(root / f"app{d:02}" / f"mod{f:02}.py", rng.randbytes(rng.randint(100, 3000)))
    write(root / "logs" / "app.log", "excluded\n")


def mutate(root: Path, rng: random.Random) -> None:
    files = sorted(root.glob("app*/*.py"))
    rng.shuffle(files)
    for path in files[:200]:
        path.write_bytes(rng.randbytes(rng.randint(100, 3000)))
    for path in files[200:260]:
        path.unlink()
    for path in files[260:290]:
        os.chmod(path, 0o600)
    for i in range(60):
        write(root / f"new{i % 5}" / f"added{i}.py", rng.randbytes(400))
    shutil.rmtree(root / f"app{DIRS - 1:02}")
    write(root / f"app{DIRS - 1:02}", "a file where a directory was\n")


def two_states(tmp_path: Path, extra_config: str = "") -> tuple[Path, Path, dict, dict, Path]:
    """A site and its repository (outside it); checkpoint A, then the tree changed to state
    B. Returns (site, a copy of B to reset from, snapshot A, snapshot B, journal path)."""
    rng = random.Random(4321)
    site, repo = tmp_path / "site", tmp_path / "repo"
    build(site, rng)
    (site / "safepoint.toml").write_text(f'[repository]\npath = "{repo}"\n{extra_config}')
    sp("init", cwd=site, check=True)
    sp("create", "--label", "A", cwd=site, check=True)
    state_a = snapshot(site)
    mutate(site, rng)
    state_b = snapshot(site)
    pristine = tmp_path / "pristine"
    shutil.copytree(site, pristine, symlinks=True)
    return site, pristine, state_a, state_b, state_dir(site) / "journal.json"


def reset(site: Path, pristine: Path) -> None:
    shutil.rmtree(site)
    shutil.copytree(pristine, site, symlinks=True)


def start(site: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [SAFEPOINT, *args], cwd=site, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def wait_for(proc: subprocess.Popen[bytes], journal: Path, purpose: str) -> float | None:
    """The moment a journal of ``purpose`` appeared, or None if the process ended first."""
    while proc.poll() is None:
        try:
            if json.loads(journal.read_bytes()).get("purpose") == purpose:
                return time.monotonic()
        except (OSError, ValueError):
            pass
        time.sleep(0.0005)
    return None


def kill_after(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` seconds; True if it was still running then."""
    time.sleep(delay)
    running = proc.poll() is None
    if running:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return running


def final_recover(site: Path, journal: Path, run: int) -> dict:
    done = sp("recover", cwd=site)
    assert done.returncode == 0, f"run {run}: {done.stderr}"
    assert not journal.exists(), f"run {run}: journal left after recover"
    return snapshot(site)


def half_way(site: Path, pristine_a: Path, rng: random.Random, nonce: str) -> None:
    """The site as a rollback from B to A killed during its switch leaves it: a random part of
    the changed files already at A, staged temporary files of the rollback beside them."""
    for path in sorted(site.glob("app*/*.py")) + sorted(site.glob("new*/*.py")):
        if rng.random() < 0.5:
            continue
        rel = path.relative_to(site)
        if (pristine_a / rel).is_file():
            shutil.copy2(pristine_a / rel, path)
        else:
            path.unlink()
    for d in rng.sample(sorted(site.glob("app*/")), 3):
        write(d / f".safepoint-tmp-{nonce}-{rng.randrange(16**6):06x}", b"staged, never renamed")


@pytest.fixture
def fast_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs: the campaigns copy the site 30 times and fsync every file they switch, which
    costs seconds a run on a busy disk and nothing in memory (skipped where one cannot be
    mounted)."""
    with tmpfs(tmp_path / "mem", "256m") as disk:
        yield disk


@pytest.mark.slow
def test_sigkill_during_recover_then_recover_again(fast_disk: Path) -> None:
    rng = random.Random(99)
    tmp_path = fast_disk
    site, pristine, state_a, state_b, journal = two_states(tmp_path)
    sp("create", "--label", "B", cwd=site, check=True)
    ids = {c["label"]: c["id"] for c in sp_json("list", cwd=site)}
    pristine_a = tmp_path / "pristine-a"
    sp("restore", "A", "--to", pristine_a, cwd=site, check=True)

    def interrupted_rollback() -> None:
        reset(site, pristine)
        nonce = f"{rng.randrange(16**8):08x}"
        half_way(site, pristine_a, rng, nonce)
        doc = {"version": 1, "target": ids["A"], "safety": ids["B"], "nonce": nonce}
        journal.write_text(json.dumps({**doc, "started": "2026-01-01T00:00:00+00:00"}))

    interrupted_rollback()  # calibrate: how long a whole recover takes here
    began = time.monotonic()
    assert final_recover(site, journal, -1) == state_a
    seconds = time.monotonic() - began

    landed = 0
    for run in range(RUNS):
        interrupted_rollback()
        landed += kill_after(start(site, "recover"), rng.uniform(0, seconds))
        assert final_recover(site, journal, run) in (state_a, state_b), f"run {run}: mixed tree"
    assert landed >= LANDED, f"only {landed} kills landed while recover ran"
    verified = sp("verify", cwd=site)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.slow
def test_sigkill_during_the_undo_of_an_unhealthy_rollback(fast_disk: Path) -> None:
    rng = random.Random(7)
    tmp_path = fast_disk
    unhealthy = '[health]\nretries = 1\ntimeout = 5\n[[health.command]]\nrun = "false"\n'
    site, pristine, _, state_b, journal = two_states(tmp_path, unhealthy)

    proc = start(site, "rollback", "A", "--yes")  # calibrate: the undo's length here
    began = wait_for(proc, journal, "undo")
    proc.wait(timeout=120)
    assert proc.returncode == 4 and began is not None
    seconds = time.monotonic() - began
    assert snapshot(site) == state_b

    landed = 0
    for run in range(RUNS):
        reset(site, pristine)
        proc = start(site, "rollback", "A", "--yes")
        began = wait_for(proc, journal, "undo")
        assert began is not None, f"run {run}: the rollback ended before its undo began"
        landed += kill_after(proc, rng.uniform(0, seconds))
        # Killed during the undo or after it: either way the site ends where it was.
        assert final_recover(site, journal, run) == state_b, f"run {run}: not back at B"
    assert landed >= LANDED, f"only {landed} kills landed while the undo ran"
    verified = sp("verify", cwd=site)
    assert verified.returncode == 0, verified.stdout + verified.stderr
