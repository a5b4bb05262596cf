"""gc gives back the space of forgotten checkpoints, measured on disk, and every checkpoint that
remains restores byte for byte afterwards; readers that opened the repository before a gc finish
correctly or say the repository changed; a pending rollback's checkpoints are kept."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from safepoint.scan.treecache import load_cache
from safepoint.store.generation import RepositoryChangedError
from safepoint.store.repository import Repository
from tests.helpers import EXCLUDED, assert_one_line_error, snapshot, sp, sp_json, write
from tests.store.lifecycle import forget, packs_bytes

BIG = 6 * 1024 * 1024


def create(site: Path, label: str) -> str:
    return str(sp_json("create", "--label", label, cwd=site)["id"])


def cached_blobs(repo: Path) -> set[bytes]:
    """Every file hash the tree cache names."""
    blocks = load_cache(repo / "treecache").blocks.values()
    rows = b",".join(piece[0] for block in blocks for piece in block.pieces)
    return {bytes.fromhex(h.decode()) for h in re.findall(rb'"([0-9a-f]{64})"', rows)}


def restores_as(site: Path, tmp_path: Path, ref: str, expected: dict[bytes, Any]) -> None:
    out = tmp_path / f"restored-{ref}"
    sp("restore", ref, "--to", out, cwd=site, check=True)
    assert snapshot(out) == expected


@pytest.fixture
def history(site: Path) -> dict[str, Any]:
    """Three checkpoints: 'big' holds a large random file beside the small ones (one pack for
    all of them), 'middle' still holds it, 'after' no longer does. Snapshots to compare."""
    write(site / "static" / "huge.bin", os.urandom(BIG))
    ids = {"big": create(site, "big")}
    write(site / "eventsite" / "urls.py", "urlpatterns = ['x']\n")
    ids["middle"] = create(site, "middle")
    (site / "static" / "huge.bin").unlink()
    write(site / "templates" / "new.html", "<p>new</p>\n")
    ids["after"] = create(site, "after")
    return {"ids": ids, "after": snapshot(site, skip=EXCLUDED)}


@pytest.mark.slow
def test_gc_gives_back_the_space_of_a_forgotten_large_file(
    site: Path, tmp_path: Path, history: dict[str, Any]
) -> None:
    repo = site / ".safepoint"
    ids = history["ids"]
    middle = tmp_path / "middle-before"
    sp("restore", "middle", "--to", middle, cwd=site, check=True)
    before = packs_bytes(repo)
    # Nothing forgotten: nothing to give back, nothing changes.
    idle = sp_json("gc", cwd=site)
    assert idle["bytes_freed"] == 0 and packs_bytes(repo) == before

    forget(repo, ids["big"])
    forget(repo, ids["middle"])
    dry = sp_json("gc", "--dry-run", cwd=site)
    assert packs_bytes(repo) == before and (repo / "forgotten" / f"{ids['big']}.json").exists()
    done = sp_json("gc", cwd=site)
    after = packs_bytes(repo)
    freed = before - after
    # Random data is stored as it is: the repository shrinks by the file's stored size (plus
    # the two forgotten manifests' few KiB), not more, not less.
    assert BIG <= freed <= BIG + 64 * 1024, freed
    assert done["bytes_freed"] == freed == dry["bytes_freed"]
    assert done["bytes_before"] == before and done["bytes_after"] == after
    assert done["packs_repacked"] >= 1  # the small files that 'after' still needs moved out
    assert sorted(done["forgotten_removed"]) == sorted([ids["big"], ids["middle"]])
    assert not list((repo / "forgotten").glob("*.json"))
    # The tree cache stays (the next create reads nothing again), vouching for stored blobs only.
    assert cached_blobs(repo) and cached_blobs(repo) <= Repository.open(repo).index.known(
        cached_blobs(repo)
    )

    restores_as(site, tmp_path, "after", history["after"])
    checked = sp("check", "--read-data", cwd=site)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "warning" not in checked.stdout
    # A second gc finds nothing to do, and the next create stores the site again correctly.
    assert sp_json("gc", cwd=site)["bytes_freed"] == 0
    write(site / "static" / "huge.bin", b"back again\n")
    create(site, "again")
    assert sp("verify", cwd=site).returncode == 0


@pytest.mark.slow
def test_gc_keeps_what_remaining_checkpoints_share(
    site: Path, tmp_path: Path, history: dict[str, Any]
) -> None:
    """Forgetting 'after' only: the large file is still needed by 'big' and 'middle'."""
    repo = site / ".safepoint"
    ids = history["ids"]
    snaps = {}
    for name in ("big", "middle"):
        out = tmp_path / f"{name}-before"
        sp("restore", name, "--to", out, cwd=site, check=True)
        snaps[name] = snapshot(out)
    # 'after' is what the tree last matched, which forget keeps: move the tree to 'middle'
    # first, and forget the safety checkpoint of 'after''s tree with it.
    safety = sp_json("rollback", "middle", "--yes", "--no-health", cwd=site)["safety"]
    before = packs_bytes(repo)
    forget(repo, ids["after"])
    forget(repo, safety)
    done = sp_json("gc", "--max-unused", "0", cwd=site)
    assert 0 < done["bytes_freed"] < 64 * 1024 and packs_bytes(repo) == before - done["bytes_freed"]
    for name, snap in snaps.items():
        restores_as(site, tmp_path, name, snap)


@pytest.mark.slow
def test_gc_keeps_the_checkpoints_of_a_pending_rollback(
    site: Path, history: dict[str, Any]
) -> None:
    repo = site / ".safepoint"
    ids = history["ids"]
    forget(repo, ids["big"])
    journal = {
        "version": 1,
        "target": ids["big"],
        "safety": ids["after"],
        "nonce": "1a2b3c4d",
        "started": "2026-12-03T10:00:00+00:00",
        "purpose": "rollback",
    }
    (repo / "journal.json").write_text(json.dumps(journal))
    before = packs_bytes(repo)
    done = sp_json("gc", cwd=site)
    assert done["forgotten_removed"] == [] and done["bytes_freed"] < 64 * 1024
    assert (repo / "forgotten" / f"{ids['big']}.json").exists()
    assert packs_bytes(repo) > before - BIG
    checked = sp("check", "--read-data", cwd=site)
    assert checked.returncode == 0, checked.stdout


@pytest.mark.slow
def test_a_reader_that_looked_a_blob_up_before_gc_finishes_or_says_why(
    site: Path, history: dict[str, Any]
) -> None:
    repo_path = site / ".safepoint"
    ids = history["ids"]
    with Repository.open(repo_path) as repo:  # opened before gc, as a running restore is
        small = repo.index.lookup(_blob_of(repo, ids["after"], "eventsite/settings.py"))
        huge = repo.index.lookup(_blob_of(repo, ids["big"], "static/huge.bin"))
        assert small is not None and huge is not None and small.pack == huge.pack
        forget(repo_path, ids["big"])
        forget(repo_path, ids["middle"])
        sp("gc", cwd=site, check=True)
        assert not (repo_path / "packs" / small.pack[:2] / f"{small.pack}.pack").exists()
        # A pack the reader had open (the manifests' and files' pack) reads on to the end.
        assert len(repo.read_at(huge)) == BIG
        repo.close_packs()  # a reader that had not opened it yet:
        # The small file was repacked: the read finds it in its new pack.
        assert repo.read_at(small) == (site / "eventsite" / "settings.py").read_bytes()
        # The large file is gone with the checkpoints that held it: exit 1, not damage.
        with pytest.raises(RepositoryChangedError, match="changed under this command"):
            repo.read_at(huge)
        assert RepositoryChangedError.exit_code == 1


def _blob_of(repo: Repository, cid: str, path: str) -> bytes:
    cp = next(c for c in repo.checkpoints() if c.id == cid)
    entry = next(e for e in repo.load_manifest(cp) if e.path == path)
    assert entry.blob is not None
    return bytes.fromhex(entry.blob)


def test_gc_refuses_bad_input_in_one_line(site: Path) -> None:
    sp("create", cwd=site, check=True)
    assert_one_line_error(sp("gc", "--max-unused", "150", cwd=site), 2)
    repo = site / ".safepoint"
    (repo / "checkpoints" / "notes.json").write_text("{}")
    refused = sp("gc", cwd=site)
    assert refused.returncode == 3 and "nothing was deleted" in refused.stderr
    assert "Traceback" not in refused.stderr
