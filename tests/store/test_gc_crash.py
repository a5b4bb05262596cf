"""gc killed at every step of its sweep leaves extra data, never missing data: after each of 30
SIGKILLs, ``check --read-data`` passes, a second gc finishes the job, and every checkpoint
restores byte for byte. And gc on a full file system deletes nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import EXCLUDED, assert_one_line_error, snapshot, sp, sp_json, write
from tests.store.lifecycle import forget, packs_bytes

# The kill points of store/gc.py, in the order gc reaches them ("pack-deleted:2": after the
# second old pack is deleted).
POINTS = [
    "planned",
    "packs-written",
    "index-updated",
    "announced",
    "records-deleted",
    "index-forgot",
    "cache-dropped",
    "pack-deleted:1",
    "pack-deleted:2",
    "done",
]


def create(site: Path, label: str) -> str:
    return str(sp_json("create", "--label", label, cwd=site)["id"])


def garbage(site: Path, round_: int) -> list[str]:
    """Two checkpoints to forget: the first's pack also holds a small file the kept checkpoint
    needs (so it is repacked), the second's holds only what is forgotten (deleted)."""
    write(site / "live" / f"kept{round_}.txt", f"kept {round_}\n")
    write(site / "static" / "x.bin", os.urandom(200_000))
    first = create(site, f"x{round_}")
    write(site / "static" / "x.bin", os.urandom(200_000))
    second = create(site, f"y{round_}")
    (site / "static" / "x.bin").unlink()
    return [first, second]


@pytest.mark.slow
def test_thirty_kills_across_the_phases_of_gc(site: Path, tmp_path: Path) -> None:
    repo = site / ".safepoint"
    kept: dict[str, dict[bytes, Any]] = {}
    for round_ in range(30):
        point = POINTS[round_ % len(POINTS)]
        doomed = garbage(site, round_)
        label = f"keep{round_}"
        create(site, label)
        kept[label] = snapshot(site, skip=EXCLUDED)
        for cid in doomed:
            forget(repo, cid)
        killed = sp("gc", cwd=site, env={"SAFEPOINT_TEST_GC_KILL": point})
        assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr)
        checked = sp("check", "--read-data", cwd=site)
        assert checked.returncode == 0, (point, checked.stdout, checked.stderr)
        finished = sp("gc", cwd=site)
        assert finished.returncode == 0, (point, finished.stderr)
        assert not list((repo / "forgotten").glob("*.json"))
        clean = sp_json("check", cwd=site)
        # Only what the threshold leaves (a pack that is 94% live keeps its dead 6%): no pack
        # the index does not know, no unfinished pack.
        leftovers = [w for w in clean["warnings"] if "no checkpoint needs" not in w]
        assert clean["ok"] and leftovers == [], (point, clean)
    # What every gc kept is whole: each kept checkpoint restores as it was taken.
    for label, snap in kept.items():
        out = tmp_path / f"out-{label}"
        sp("restore", label, "--to", out, cwd=site, check=True)
        assert snapshot(out) == snap, label
    assert sp("verify", cwd=site).returncode == 0


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs of its own, unmounted afterwards."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def tree_of(repo: Path) -> dict[str, bytes]:
    """Every file of the repository and its content, but for the index's database files (a
    read opens a WAL), the lock and the records' catalogue (a cache any command may write)."""
    out = {}
    for path in sorted(repo.rglob("*")):
        rel = str(path.relative_to(repo))
        if path.is_file() and not rel.startswith(("index.sqlite", "lock", "catalogue")):
            out[rel] = path.read_bytes()
    return out


def fill(fs: Path, filler: Path, *, leave: int) -> None:
    """Fill ``fs`` with ``filler`` until only ``leave`` bytes are free."""
    with open(filler, "wb") as f:
        try:
            while (free := shutil.disk_usage(fs).free) > leave:
                f.write(b"\0" * min(65536, free - leave))
                f.flush()
        except OSError:
            pass


@pytest.mark.slow
def test_gc_on_a_full_file_system_deletes_nothing(small_fs: Path, tmp_path: Path) -> None:
    site = small_fs / "site"
    write(site / "app.py", "print('app')\n")
    write(site / "live.bin", os.urandom(2 * 1024 * 1024))
    write(site / "dead.bin", os.urandom(6 * 1024 * 1024))
    sp("init", cwd=site, check=True)
    old = create(site, "old")
    (site / "dead.bin").unlink()
    create(site, "new")
    keep = snapshot(site, skip=(".safepoint", "safepoint.toml"))
    repo = site / ".safepoint"
    forget(repo, old)
    before = tree_of(repo)
    filler = small_fs / "filler"
    # Full to the last block, then with room for the index but not for the 2 MiB that the
    # kept checkpoint needs moved out of the pack it shares with the forgotten one.
    for room in (0, 1536 * 1024):
        fill(small_fs, filler, leave=room)
        proc = sp("gc", cwd=site)
        assert_one_line_error(proc, 1)
        assert "nothing was deleted" in proc.stderr, proc.stderr
        assert tree_of(repo) == before
        filler.unlink()
    assert sp_json("check", "--read-data", cwd=site)["ok"]

    size = packs_bytes(repo)
    done = sp_json("gc", cwd=site)
    assert done["bytes_freed"] >= 6 * 1024 * 1024 and packs_bytes(repo) < size
    out = tmp_path / "out"
    sp("restore", "new", "--to", out, cwd=site, check=True)
    assert snapshot(out) == keep
