"""The database snapshot in an export: a separate member that the restore script leaves alone
unless run with --with-db (import keeps it: tests/dbsnap/test_import.py)."""

from __future__ import annotations

import sqlite3
import tarfile
from pathlib import Path

from tests.archive.conftest import export
from tests.archive.test_script import run_script
from tests.dbsnap.conftest import sqlite_rows, sqlite_site
from tests.helpers import sp, sp_json


def test_export_carries_the_snapshot_and_the_script_restores_it_only_when_asked(
    tmp_path: Path,
) -> None:
    site = sqlite_site(tmp_path)
    db = site / "data" / "site.db"
    sp("create", "--label", "A", "--with-db", cwd=site, check=True)
    out = export(site, "A", tmp_path / "out")
    with tarfile.open(out.archive) as tar:
        names = tar.getnames()
        member = tar.getmember(".safepoint-checkpoint/database.sqlite3")
        data = tar.extractfile(member).read()  # type: ignore[union-attr]
    assert names.index(".safepoint-checkpoint/database.sqlite3") < names.index("app.py")
    assert data[:16] == b"SQLite format 3\x00"

    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM t")
    (site / "app.py").write_text("VERSION = 2\n")
    plain = run_script(out.script, "--yes", "--no-health", "--no-hooks")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "left alone" in plain.stdout + plain.stderr
    assert (site / "app.py").read_text() == "VERSION = 1\n"
    assert sqlite_rows(db) == []  # the database as the site had it
    assert not (site / ".safepoint-checkpoint").exists()

    app = sqlite3.connect(db)  # the running site's connection
    try:
        with_db = run_script(out.script, "--yes", "--no-health", "--no-hooks", "--with-db")
        assert with_db.returncode == 0, with_db.stdout + with_db.stderr
        assert app.execute("SELECT count(*) FROM t").fetchone()[0] == 500
    finally:
        app.close()
    assert not (site / ".safepoint-checkpoint").exists()

    # Import into a site without [database] takes the files (and the snapshot, for later).
    other = tmp_path / "other"
    other.mkdir()
    sp("init", cwd=other, check=True)
    sp("import", out.archive, cwd=other, check=True)
    assert len(sp_json("list", cwd=other)) == 1


def test_script_with_db_refused_when_the_archive_has_none(tmp_path: Path) -> None:
    site = sqlite_site(tmp_path)
    sp("create", "--label", "A", cwd=site, check=True)
    out = export(site, "A", tmp_path / "out")
    (site / "app.py").write_text("VERSION = 2\n")
    proc = run_script(out.script, "--yes", "--no-health", "--with-db")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no database" in proc.stderr
    assert (site / "app.py").read_text() == "VERSION = 2\n"


def test_restore_script_never_removes_a_database_found_by_its_content(tmp_path: Path) -> None:
    """``bakerydemodb`` is a SQLite database by its header, not its name: excluded from
    checkpoints, so the script's list of paths to remove must not hold it (it did)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "app.py").write_text("VERSION = 1\n")
    with sqlite3.connect(site / "bakerydemodb") as c:
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        c.execute("INSERT INTO t (v) VALUES ('kept')")
    sp("init", cwd=site, check=True)
    sp("create", "--label", "A", cwd=site, check=True)
    out = export(site, "A", tmp_path / "out")
    assert "\nf bakerydemodb\n" not in out.script.read_text()  # not in the removal list
    proc = run_script(out.script, "--yes", "--no-health", "--no-hooks")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sqlite_rows(site / "bakerydemodb") == [(1, "kept")]
