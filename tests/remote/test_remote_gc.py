"""gc on a repository in S3 (a real moto server): the space of forgotten checkpoints given back
on the remote, crash safety, and a writer on another host that deduplicated against a pack a
gc then deleted."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import SAFEPOINT, assert_one_line_error, snapshot, sp, write
from tests.remote.conftest import Remote
from tests.remote.test_remote_commands import listing, run

pytestmark = pytest.mark.slow  # a dozen commands against moto each (scrypt: 0.5 s each)

SKIP = ("safepoint.toml",)


def bucket(remote: Remote) -> dict[str, int]:
    """Every object in the repository's bucket and its size."""
    name, s3 = remote.bucket, remote.s3()
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj["Size"]
    return out


def pack_bytes(remote: Remote) -> int:
    return sum(size for key, size in bucket(remote).items() if "/packs/" in key)


def names(remote: Remote, folder: str) -> set[str]:
    return {k.rsplit("/", 1)[1] for k in bucket(remote) if f"/{folder}/" in k}


def three_versions(remote: Remote, root: Path) -> Path:
    """A site with a file that never changes (1 MiB) and one that does (2 MiB), checkpoints
    V1, V2, V3; V1 and V2 forgotten (prune). V1's pack also holds the kept file: repacked."""
    remote.site(root)
    write(root / "keep.bin", os.urandom(1 << 20))
    write(root / "app.py", "print('v1')\n")
    run(remote, root, "init")
    for n in (1, 2, 3):
        write(root / "change.bin", os.urandom(2 << 20))
        write(root / "app.py", f"print('v{n}')\n")
        run(remote, root, "create", "--label", f"V{n}")
    run(remote, root, "prune", "--keep-last", "1")
    return root


def assert_all_restore(remote: Remote, host: Path, site: Path, out: Path) -> None:
    """From ``host``: check --read-data is clean and V3 restores byte-identically."""
    checked = run(remote, host, "check", "--read-data", check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    run(remote, host, "restore", "V3", "--to", str(out))
    assert snapshot(out) == snapshot(site, skip=(*SKIP, ".safepoint-state"))


def assert_packs_match_index_objects(remote: Remote) -> None:
    assert names(remote, "packs") == names(remote, "index")


def test_prune_then_gc_gives_the_space_back_on_the_remote(remote: Remote, tmp_path: Path) -> None:
    a = three_versions(remote, tmp_path / "a")
    b = remote.site(tmp_path / "b")
    run(remote, b, "init")
    run(remote, b, "restore", "V3", "--to", str(tmp_path / "early"))  # b caches V3's packs
    before = pack_bytes(remote)
    assert before > 7 << 20
    done = run(remote, a, "gc")
    assert f"on {remote.url}" in done.stdout and "freed" in done.stdout
    after = pack_bytes(remote)
    assert after < before - (4 << 20), (before, after)  # V1's and V2's change.bin
    assert after > 3 << 20  # keep.bin and V3's change.bin stay
    assert not names(remote, "forgotten")
    assert_packs_match_index_objects(remote)
    # A fresh host, and a host whose cache knew the deleted packs, read everything kept.
    c = remote.site(tmp_path / "c")
    run(remote, c, "init")
    assert_all_restore(remote, c, a, tmp_path / "out-c")
    assert_all_restore(remote, b, a, tmp_path / "out-b")
    assert list(listing(remote, b)) == ["V3"]
    cached = {p.name.removesuffix(".pack") for p in b.glob(".safepoint-state/*/cache/packs/*/*")}
    assert cached <= names(remote, "packs")  # copies of deleted packs are gone
    gone = sp("undelete", "V1", cwd=b, env=remote.env)
    assert_one_line_error(gone, 2)
    again = run(remote, a, "gc", "--json")
    assert '"bytes_freed": 0' in again.stdout


def test_gc_dry_run_deletes_nothing_on_the_remote(remote: Remote, tmp_path: Path) -> None:
    a = three_versions(remote, tmp_path / "a")
    before = bucket(remote)
    dry = run(remote, a, "gc", "--dry-run")
    assert "would free" in dry.stdout
    assert bucket(remote) == before
    assert "V1" in run(remote, a, "list", "--forgotten").stdout


@pytest.mark.parametrize(
    "point", ["remote-uploaded", "announced", "remote-records-deleted", "remote-index-deleted:1"]
)
def test_gc_killed_on_the_remote_loses_nothing_and_the_next_gc_finishes(
    remote: Remote, tmp_path: Path, point: str
) -> None:
    a = three_versions(remote, tmp_path / "a")
    before = pack_bytes(remote)
    killed = sp("gc", cwd=a, env={**remote.env, "SAFEPOINT_TEST_GC_KILL": point})
    assert killed.returncode == -9, killed.stderr
    assert pack_bytes(remote) >= before - (4 << 20)  # not done
    c = remote.site(tmp_path / "c")
    run(remote, c, "init")
    assert_all_restore(remote, c, a, tmp_path / "out-1")
    run(remote, a, "gc")  # takes over the dead gc's lock (same host, pid gone)
    assert pack_bytes(remote) < before - (4 << 20)
    assert_packs_match_index_objects(remote)
    assert not names(remote, "forgotten")
    assert_all_restore(remote, c, a, tmp_path / "out-2")


@pytest.mark.parametrize("cached", [False, True], ids=["pack-not-cached", "pack-cached"])
def test_a_writer_that_deduplicated_against_a_pack_gc_deleted_leaves_no_record(
    remote: Remote, tmp_path: Path, cached: bool
) -> None:
    """Without a copy of the deleted pack, b's create stores nothing (exit 3) and succeeds when
    run again; with one (b restored A1 before), b uploads that pack again and succeeds."""
    secret = os.urandom(256 * 1024)
    a = remote.site(tmp_path / "a")
    write(a / "app.py", "print('a')\n")
    write(a / "data.bin", secret)
    run(remote, a, "init")
    run(remote, a, "create", "--label", "A1")
    (a / "data.bin").unlink()
    run(remote, a, "create", "--label", "A2")
    b = remote.site(tmp_path / "b")
    write(b / "app.py", "print('b')\n")
    write(b / "data.bin", secret)
    run(remote, b, "init")  # b's cache knows A1's pack: its create will not store data.bin
    if cached:
        run(remote, b, "restore", "A1", "--to", str(tmp_path / "a1"))  # A1's pack in b's cache
    run(remote, a, "forget", "A1")  # data.bin's blob now lives only in A1's pack
    go = tmp_path / "go"
    writer = subprocess.Popen(
        [SAFEPOINT, "create", "--label", "B1"], cwd=b, text=True,
        env={**os.environ, **remote.env, "SAFEPOINT_TEST_PAUSE_AFTER_PULL": str(go)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{go}.paused").exists():  # b has pulled
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        run(remote, a, "gc")  # deletes A1's pack while b is between its pull and its save
        go.touch()
        _out, err = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
    c = remote.site(tmp_path / "c")
    if cached:
        assert writer.returncode == 0, err
        run(remote, c, "init")
    else:
        assert writer.returncode == 3, err
        assert len(err.strip().splitlines()) == 1 and "data.bin" in err, err
        run(remote, c, "init")
        assert "B1" not in listing(remote, c)
        clean = run(remote, c, "check", "--read-data", check=False)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        # Run again, b stores data.bin anew: every host restores it.
        run(remote, b, "create", "--label", "B1")
    clean = run(remote, c, "check", "--read-data", check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    run(remote, c, "restore", "B1", "--to", str(tmp_path / "out"))
    assert (tmp_path / "out" / "data.bin").read_bytes() == secret
    assert snapshot(tmp_path / "out") == snapshot(b, skip=(*SKIP, ".safepoint-state"))
