"""``safepoint copy REF... --to DEST | --from SRC`` between two local repositories, through the
installed command: what arrives restores byte for byte, only what the destination lacks is
written, a damaged source or a kill -9 never leaves a record pointing at missing data."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.dbsnap.conftest import sqlite_rows, sqlite_site
from tests.helpers import (
    EXCLUDED,
    SAFEPOINT,
    assert_one_line_error,
    make_site,
    snapshot,
    sp,
    sp_json,
    write,
)
from tests.restore.test_faults import blob_location, flip


def init_site(root: Path) -> Path:
    make_site(root)
    sp("init", cwd=root, check=True)
    return root


def other_root(tmp_path: Path, repo: Path, name: str = "other") -> Path:
    """A second site root whose repository is ``repo``: how a test reads a copy."""
    root = tmp_path / name
    root.mkdir()
    (root / "safepoint.toml").write_text(f'[repository]\npath = "{repo}"\n')
    return root


def copy_json(site: Path, *args: str) -> dict[str, object]:
    proc = sp("copy", *args, "--json", cwd=site)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def index_count(repo: Path) -> int:
    db = sqlite3.connect(repo / "index.sqlite")
    try:
        return int(db.execute("SELECT count(*) FROM blobs").fetchone()[0])
    finally:
        db.close()


def listing(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def repository_files(repo: Path) -> list[dict[str, bytes]]:
    return [listing(repo / sub) for sub in ("packs", "checkpoints", "marks")]


def test_copy_round_trip_restores_byte_identical(tmp_path: Path) -> None:
    site = init_site(tmp_path / "site")
    sp("create", "--label", "v1", cwd=site, check=True)
    sp("mark", "v1", "good", cwd=site, check=True)
    dest = tmp_path / "dest"
    doc = copy_json(site, "v1", "--to", str(dest))
    assert [c["copied"] for c in doc["checkpoints"]] == [True]  # type: ignore[index]
    reader = other_root(tmp_path, dest)
    [copied] = sp_json("list", cwd=reader)
    [original] = sp_json("list", cwd=site)
    assert copied["id"] == original["id"]  # the same record, byte for byte
    assert copied["marks"]["hosts"] == original["marks"]["hosts"]  # its mark came along
    sp("restore", "v1", "--to", tmp_path / "from-copy", cwd=reader, check=True)
    sp("restore", "v1", "--to", tmp_path / "from-site", cwd=site, check=True)
    assert snapshot(tmp_path / "from-copy") == snapshot(tmp_path / "from-site")
    assert sp("verify", cwd=reader).returncode == 0
    assert sp("check", "--read-data", cwd=reader).returncode == 0


def test_copy_twice_is_a_no_op(tmp_path: Path) -> None:
    site = init_site(tmp_path / "site")
    sp("create", "--label", "v1", cwd=site, check=True)
    dest = tmp_path / "dest"
    copy_json(site, "v1", "--to", str(dest))
    before = repository_files(dest)
    doc = copy_json(site, "v1", "latest", "--to", str(dest))  # two names, one checkpoint
    assert doc["checkpoints"] == [
        {"id": sp_json("show", "v1", cwd=site)["id"], "label": "v1", "copied": False}
    ]
    assert (doc["blobs"], doc["bytes"]) == (0, 0)
    assert repository_files(dest) == before
    proc = sp("copy", "v1", "--to", str(dest), cwd=site, check=True)
    assert "already there" in proc.stdout


def test_only_the_blobs_the_destination_lacks_are_written(tmp_path: Path) -> None:
    site = init_site(tmp_path / "site")
    repo = site / ".safepoint"
    sp("create", "--label", "v1", cwd=site, check=True)
    dest = tmp_path / "dest"
    first = copy_json(site, "v1", "--to", str(dest))
    assert first["blobs"] == index_count(repo) == index_count(dest)
    stored_by_v1 = index_count(repo)
    for name in ("a.py", "b.py", "c.py"):
        write(site / "eventsite" / name, f"# {name}\n")
    sp("create", "--label", "v2", cwd=site, check=True)
    new_in_site = index_count(repo) - stored_by_v1  # three files, a few manifest blobs
    second = copy_json(site, "v2", "--to", str(dest))
    assert second["blobs"] == new_in_site
    assert 3 <= new_in_site < 10
    assert index_count(dest) == index_count(repo)
    # The 3 MiB static/big.bin was not sent again: a few hundred bytes went.
    assert 0 < second["bytes"] < 10_000  # type: ignore[operator]


def test_copy_from_another_repository_into_the_site(tmp_path: Path) -> None:
    a = init_site(tmp_path / "a")
    sp("create", "--label", "from-a", cwd=a, check=True)
    b = tmp_path / "b"
    b.mkdir()
    write(b / "app.py", "b\n")
    sp("init", cwd=b, check=True)
    doc = copy_json(b, "from-a", "--from", str(a / ".safepoint"))
    assert doc["blobs"] > 0  # type: ignore[operator]
    assert [c["label"] for c in sp_json("list", cwd=b)] == ["from-a"]
    sp("restore", "from-a", "--to", tmp_path / "out", cwd=b, check=True)
    assert snapshot(tmp_path / "out") == snapshot(a, skip=EXCLUDED)



def test_copy_a_checkpoint_with_its_database_snapshot(tmp_path: Path) -> None:
    a = sqlite_site(tmp_path)
    rows = sqlite_rows(a / "data" / "site.db")
    sp("create", "--label", "with-db", "--with-db", cwd=a, check=True)
    dest = tmp_path / "dest"
    copy_json(a, "with-db", "--to", str(dest))
    # Another site on the copy: its rollback --with-db gets A's rows from the copied chunks.
    b = tmp_path / "b"
    (b / "data").mkdir(parents=True)
    (b / "app.py").write_text("VERSION = 9\n")
    with sqlite3.connect(b / "data" / "site.db") as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    (b / "safepoint.toml").write_text(
        f'[repository]\npath = "{dest}"\n[database]\nengine = "sqlite"\npath = "data/site.db"\n'
    )
    assert sp("verify", "with-db", cwd=b).returncode == 0
    sp("rollback", "with-db", "--with-db", "--yes", "--no-health", cwd=b, check=True)
    assert sqlite_rows(b / "data" / "site.db") == rows
    assert (b / "app.py").read_text() == "VERSION = 1\n"


def test_a_damaged_source_blob_stops_the_copy_and_leaves_the_destination(tmp_path: Path) -> None:
    site = init_site(tmp_path / "site")
    sp("create", "--label", "v1", cwd=site, check=True)
    dest = tmp_path / "dest"
    copy_json(site, "v1", "--to", str(dest))
    content = b"the afternoon's work\n" * 50
    write(site / "eventsite" / "extra.py", content)
    sp("create", "--label", "v2", cwd=site, check=True)
    pack, offset = blob_location(site / ".safepoint", content)
    flip(pack, offset + 60)  # inside the stored data, past the record header
    before = listing(dest / "checkpoints"), listing(dest / "marks")
    proc = sp("copy", "v2", "--to", str(dest), cwd=site)
    assert_one_line_error(proc, 3)
    assert content_id(content) in proc.stderr  # names the damaged blob
    assert (listing(dest / "checkpoints"), listing(dest / "marks")) == before
    reader = other_root(tmp_path, dest)
    assert [c["label"] for c in sp_json("list", cwd=reader)] == ["v1"]
    assert sp("check", "--read-data", cwd=reader).returncode == 0


def content_id(content: bytes) -> str:
    import hashlib

    return hashlib.sha256(content).hexdigest()


def test_bad_usage_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    site = init_site(tmp_path / "site")
    sp("create", "--label", "v1", cwd=site, check=True)
    dest = tmp_path / "dest"
    for args in (
        ("v1",),  # neither --to nor --from
        ("v1", "--to", str(dest), "--from", str(dest)),
        ("--to", str(dest)),  # no reference
        ("v1", "nope", "--to", str(dest)),  # every reference resolved before anything
        ("v1", "--to", "gs://bucket/prefix"),  # not a kind of repository safepoint opens
        ("v1", "--to", str(site / ".safepoint")),  # itself
        ("v1", "--from", str(tmp_path / "nothing-here")),
    ):
        assert_one_line_error(sp("copy", *args, cwd=site), 2)
    assert not (dest / "checkpoints").exists() or not any((dest / "checkpoints").iterdir())


@pytest.mark.slow
def test_kill_9_mid_copy_then_copy_again_completes(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for i in range(3):  # incompressible, over one pack (32 MiB): packs close mid-copy
        write(site / "data" / f"blob{i}.bin", os.urandom(24 << 20))
    write(site / "app.py", "v1\n")
    sp("init", cwd=site, check=True)
    sp("create", "--label", "big", cwd=site, check=True)
    dest = tmp_path / "dest"
    proc = subprocess.Popen(
        [SAFEPOINT, "copy", "big", "--to", str(dest)],
        cwd=site,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            # Past the first pack (32 MiB, closed and fsynced) and into the second one.
            if tmp_pack_bytes(dest) > 40 << 20:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the copy ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert not any((dest / "checkpoints").iterdir())  # no record pointing at missing data
    assert any((dest / "packs").glob("*/*.pack.tmp"))  # it was killed mid-copy
    doc = copy_json(site, "big", "--to", str(dest))
    assert [c["copied"] for c in doc["checkpoints"]] == [True]  # type: ignore[index]
    reader = other_root(tmp_path, dest)
    check = sp("check", "--read-data", cwd=reader)
    assert check.returncode == 0, check.stdout + check.stderr
    sp("restore", "big", "--to", tmp_path / "out", cwd=reader, check=True)
    assert snapshot(tmp_path / "out") == snapshot(site, skip=(".safepoint", "safepoint.toml"))


def tmp_pack_bytes(repo: Path) -> int:
    """What the packs being written hold so far (one may be renamed while it is looked at)."""
    total = 0
    for path in (repo / "packs").glob("*/*.pack.tmp"):
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    return total
