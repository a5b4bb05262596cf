"""A damaged index (garbage SQLite pages) gave raw sqlite3.DatabaseError tracebacks from every
command. Now each says, in one line, that the index is damaged and how to rebuild it, and
``safepoint repair index`` rebuilds it from the packs: every checkpoint restores byte for byte."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.helpers import (
    EXCLUDED,
    assert_one_line_error,
    package_tree,
    snapshot,
    sp,
    sp_json,
    write,
)


@pytest.fixture
def damaged(site: Path, tmp_path: Path) -> tuple[Path, dict[bytes, tuple[object, ...]]]:
    """A site with two checkpoints of some 1,200 files, and its index's middle third garbage.
    Returns the site and the snapshot of checkpoint ``a``."""
    package_tree(site / "pkgs", 20, 60)
    sp("create", "--label", "a", cwd=site, check=True)
    at_a = snapshot(site, skip=EXCLUDED)
    write(site / "eventsite" / "urls.py", "urlpatterns = ['b']\n")
    write(site / "pkgs" / "new.py", "new\n")
    sp("create", "--label", "b", cwd=site, check=True)
    index = site / ".safepoint" / "index.sqlite"
    data = bytearray(index.read_bytes())
    assert len(data) > 40_000  # enough pages that the middle is table data
    rng = random.Random(12)
    third = len(data) // 3
    data[third : 2 * third] = rng.randbytes(third)
    index.write_bytes(bytes(data))
    return site, at_a


COMMANDS = [
    ["verify"],
    ["show", "a", "--files"],
    ["create"],
    ["rollback", "a", "--yes"],
    ["export", "a", "-o", "{out}/"],
    ["restore", "a", "--to", "{out}/restored"],
]


@pytest.mark.slow
def test_every_command_says_the_index_is_damaged_and_changes_nothing(
    damaged: tuple[Path, dict[bytes, tuple[object, ...]]], tmp_path: Path
) -> None:
    site, _ = damaged
    out = tmp_path / "out"
    out.mkdir()
    # the lock's holder text comes and goes; the catalogue is a cache any command may write
    unchanged = (".safepoint/lock", ".safepoint/catalogue")
    before = snapshot(site, skip=unchanged)
    for command in COMMANDS:
        proc = sp(*(arg.format(out=out) for arg in command), cwd=site)
        assert_one_line_error(proc, 3)
        assert "index" in proc.stderr and "is damaged" in proc.stderr, (command, proc.stderr)
        assert "safepoint repair index" in proc.stderr
    # These read few blobs (status none when the tree cache has every hash; diff only the
    # manifest chunks the two checkpoints do not share), which may all sit on sound pages:
    # then they answer, hash-checked; else the same one line.
    for command in (["status"], ["diff", "a", "b"]):
        proc = sp(*command, cwd=site)
        assert "Traceback" not in proc.stderr and proc.returncode in (0, 3), proc.stderr
        if proc.returncode == 3:
            assert "safepoint repair index" in proc.stderr
    assert (
        snapshot(site, skip=unchanged) == before
    )  # the rollback and create changed nothing
    assert not list(out.glob("*.tar.gz")) and not (out / "restored").exists()
    proc = sp("verify", "--json", cwd=site)
    assert proc.returncode == 3 and '"kind": "index_damaged"' in proc.stdout


@pytest.mark.slow
def test_repair_index_rebuilds_it_and_every_checkpoint_restores(
    damaged: tuple[Path, dict[bytes, tuple[object, ...]]], tmp_path: Path
) -> None:
    site, at_a = damaged
    now = snapshot(site, skip=EXCLUDED)
    proc = sp("repair", "index", cwd=site)
    assert proc.returncode == 0, proc.stderr
    assert "rebuilt the index from" in proc.stdout
    assert sp("verify", cwd=site).returncode == 0
    sp("restore", "a", "--to", tmp_path / "a", cwd=site, check=True)
    assert snapshot(tmp_path / "a") == at_a
    sp("rollback", "a", "--yes", cwd=site, check=True)
    assert snapshot(site, skip=EXCLUDED) == at_a
    sp("rollback", "b", "--yes", cwd=site, check=True)
    assert snapshot(site, skip=EXCLUDED) == now
    doc = sp_json("repair", "index", cwd=site)
    assert doc["ok"] is True and doc["problems"] == [] and doc["blobs"] > 1200


def test_an_index_that_is_not_a_database_and_a_damaged_pack(site: Path, tmp_path: Path) -> None:
    sp("create", "--label", "a", cwd=site, check=True)
    index = site / ".safepoint" / "index.sqlite"
    index.write_bytes(b"this is not a database" * 200)
    for suffix in ("-wal", "-shm"):
        (site / ".safepoint" / f"index.sqlite{suffix}").unlink(missing_ok=True)
    proc = sp("restore", "a", "--to", tmp_path / "r", cwd=site)
    assert_one_line_error(proc, 3)
    assert "repair index" in proc.stderr
    # A pack cut short: the index keeps what it still gives, and repair says which pack.
    pack = max((site / ".safepoint" / "packs").glob("*/*.pack"), key=lambda p: p.stat().st_size)
    pack.write_bytes(pack.read_bytes()[: pack.stat().st_size // 2])
    proc = sp("repair", "index", cwd=site)
    assert proc.returncode == 3
    assert pack.name in proc.stdout and "DAMAGED" in proc.stdout
    assert sp("verify", cwd=site).returncode == 3


def test_repair_of_an_unknown_part_is_one_line(site: Path) -> None:
    """'repair' alone heals and marks (tests/store/test_check_repair.py); an unknown part is
    bad usage."""
    assert_one_line_error(sp("repair", "packs", cwd=site), 2)
    whole = sp("repair", cwd=site)
    assert whole.returncode == 0 and "checked 0 checkpoints" in whole.stdout
