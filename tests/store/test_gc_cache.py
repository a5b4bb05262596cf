"""gc keeps the tree cache, less the directories whose files name a blob it removed: the next
checkpoint reads those directories again (and stores what gc took away), and nothing else."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import safepoint
from safepoint.scan import tree as tree_module
from safepoint.scan.treecache import load_cache
from tests.helpers import EXCLUDED, snapshot, sp, sp_json, write
from tests.store.lifecycle import forget


def backdate(root: Path) -> None:
    """Every file a minute old, so no cache block is racy (re-read whatever happens)."""
    old = time.time() - 60
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(folder, name), (old, old), follow_symlinks=False)


def counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the files the scan reads (hashes) from now on, in this process."""
    read: list[str] = []
    real = tree_module.hash_files

    def counting(root: str, batch: list, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        read.extend(e.path for e in batch)
        return real(root, batch, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tree_module, "hash_files", counting)
    return read


def create_in_process(site: Path, label: str) -> str:
    with safepoint.open_site(site) as s:
        return safepoint.create_checkpoint(s, label=label).checkpoint.id


def test_create_after_gc_reads_no_file_when_gc_removed_none_of_the_site(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common case: old checkpoints forgotten and collected, the site as the newest one
    holds it. The old code dropped the whole cache: every file of the site read again."""
    sp("create", "--label", "base", cwd=site, check=True)  # the site's data in a pack of its own
    write(site / "assets" / "x.bin", os.urandom(200_000))
    backdate(site)
    old = sp_json("create", "--label", "old", cwd=site)["id"]
    (site / "assets" / "x.bin").unlink()
    write(site / "templates" / "new.html", "<p>new</p>\n")
    backdate(site)
    sp("create", "--label", "new", cwd=site, check=True)
    forget(site / ".safepoint", old)
    assert sp_json("gc", cwd=site)["bytes_freed"] >= 100_000  # x.bin's pack went
    read = counting_reads(monkeypatch)
    create_in_process(site, "after-gc")
    assert read == []


def test_create_after_gc_reads_the_directories_of_removed_blobs_again(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the cache names a blob gc removed, that directory is read again, all of it, and
    its files stored: nothing else is read, and nothing is lost."""
    write(site / "assets" / "y.txt", "kept by every checkpoint\n")
    backdate(site)
    sp("create", "--label", "base", cwd=site, check=True)
    # assets/x.bin is stored by 'a' only, and the tree cache (written by 'a') names it. 'a'
    # is what the tree last matched, which forget keeps; a repository that does not know
    # (head.json missing, as before it was recorded) lets it go.
    content = os.urandom(200_000)
    write(site / "assets" / "x.bin", content)
    backdate(site)
    a = sp_json("create", "--label", "a", cwd=site)["id"]
    (site / ".safepoint" / "head.json").unlink()
    forget(site / ".safepoint", a)
    assert sp_json("gc", cwd=site)["bytes_freed"] >= len(content) // 2
    cache = load_cache(site / ".safepoint" / "treecache")
    assert cache.blocks and "assets" not in cache.blocks and "templates" in cache.blocks

    read = counting_reads(monkeypatch)
    c = create_in_process(site, "c")
    assert sorted(read) == ["assets/x.bin", "assets/y.txt"]
    # What gc removed was stored again: the repository is whole and 'c' restores as the site.
    sp("check", "--read-data", cwd=site, check=True)
    out = tmp_path / "restored"
    sp("restore", c, "--to", out, cwd=site, check=True)
    assert (out / "assets" / "x.bin").read_bytes() == content
    assert snapshot(out) == snapshot(site, skip=EXCLUDED)


def test_drop_blobs_keeps_other_blocks_and_removes_a_cache_it_cannot_rewrite(site: Path) -> None:
    from safepoint.scan.treecache import drop_blobs  # here: the e2e tests run on older code

    write(site / "assets" / "x.bin", b"x" * 1000)
    with safepoint.open_site(site) as s:
        safepoint.create_checkpoint(s)
        blob = {e.path: e.blob for e in s.repository.load_manifest(s.repository.checkpoints()[0])}
    path = site / ".safepoint" / "treecache"
    before = path.read_bytes()
    drop_blobs(path, {bytes.fromhex("00" * 32)})  # named by no block: nothing to write
    assert path.read_bytes() == before
    assert "static" in load_cache(path).blocks
    drop_blobs(path, {bytes.fromhex(str(blob["static/big.bin"]))})
    blocks = load_cache(path).blocks
    assert "static" not in blocks and "assets" in blocks and "templates" in blocks
    # gc cannot leave a cache that vouches for a removed blob: when the cache without it
    # cannot be written (its temporary file is a link into a folder that does not exist: the
    # open fails as on a full disk, even for root), it is removed.
    os.symlink(site / "nowhere" / "x", path.parent / f".treecache.tmp-{os.getpid()}")
    drop_blobs(path, {bytes.fromhex(str(blob["assets/x.bin"]))})
    assert not path.exists()
