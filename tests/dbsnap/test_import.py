"""Import keeps the database snapshot of an export made with --with-db (it was dropped: the
imported checkpoint had no snapshot to restore), checked against the record it came with."""

from __future__ import annotations

import gzip
import io
import sqlite3
import tarfile
from pathlib import Path

from tests.archive.conftest import export, repo_state
from tests.dbsnap.conftest import sqlite_rows, sqlite_site
from tests.helpers import assert_one_line_error, sp, sp_json

MEMBER = ".safepoint-checkpoint/database.sqlite3"


def member_bytes(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


def test_export_import_restore_with_db_round_trip(tmp_path: Path) -> None:
    source = sqlite_site(tmp_path / "a")
    sp("create", "--label", "A", "--with-db", cwd=source, check=True)
    out = export(source, "A", tmp_path / "out")
    snapshot = member_bytes(out.archive, MEMBER)

    other = sqlite_site(tmp_path / "b", rows=3)  # another site, its own database
    imported = sp_json("import", out.archive, cwd=other)
    info = imported["extra"]["database"]
    assert info["engine"] == "sqlite" and info["name"] == "data/site.db"
    assert info["bytes"] == len(snapshot)
    assert sp("verify", cwd=other).returncode == 0  # the snapshot's blobs are all there
    assert "no snapshot" not in sp("show", "A", cwd=other, check=True).stdout

    restored = tmp_path / "restored"
    sp("restore", "A", "--to", restored, "--with-db", cwd=other, check=True)
    assert (restored / "data" / "site.db").read_bytes() == snapshot
    assert len(sqlite_rows(restored / "data" / "site.db")) == 500
    assert len(sqlite_rows(other / "data" / "site.db")) == 3  # the live database left alone

    # And a rollback of the live site to it brings the 500 rows back.
    sp("rollback", "A", "--with-db", "--yes", "--no-health", cwd=other, check=True)
    assert len(sqlite_rows(other / "data" / "site.db")) == 500


def test_a_snapshot_that_does_not_match_its_record_is_refused(tmp_path: Path) -> None:
    source = sqlite_site(tmp_path / "a")
    sp("create", "--label", "A", "--with-db", cwd=source, check=True)
    with sqlite3.connect(source / "data" / "site.db") as c:
        c.execute("UPDATE t SET v = 'changed' WHERE id = 1")
    out = export(source, "A", tmp_path / "out")
    # The snapshot member swapped for another database (the live one, changed since): the
    # record and archive.json still agree, the checksum file is gone (it would catch it first).
    tampered = tmp_path / "tampered.tar.gz"
    with (
        tarfile.open(out.archive) as src,
        gzip.open(tampered, "wb") as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for ti in src:
            data = src.extractfile(ti).read() if ti.isreg() else None  # type: ignore[union-attr]
            if ti.name == MEMBER:
                data = (source / "data" / "site.db").read_bytes()
                ti.size = len(data)
            dst.addfile(ti, io.BytesIO(data) if data is not None else None)

    other = sqlite_site(tmp_path / "b", rows=3)
    before = repo_state(other)
    proc = sp("import", tampered, cwd=other)
    assert_one_line_error(proc, 3)
    assert "database snapshot" in proc.stderr
    assert sp_json("list", cwd=other) == []
    assert repo_state(other) == before  # the chunks it had stored were removed again
