"""SQLite snapshots with checkpoints: taken with the online backup API, restored into the live
file, deduplicated, verified, and put back when a rollback fails."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from safepoint.store.repository import Repository
from safepoint.store.snapshots import read_top
from tests.dbsnap.conftest import sqlite_rows, sqlite_site
from tests.helpers import assert_one_line_error, snapshot, sp, sp_json
from tests.restore.test_faults import blob_location, flip


def delete_rows(db: Path, above: int) -> None:
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM t WHERE id > ?", (above,))


def test_rollback_with_db_brings_back_rows_deleted_after_the_checkpoint(tmp_path: Path) -> None:
    site = sqlite_site(tmp_path)
    db = site / "data" / "site.db"
    kept = sqlite_rows(db)
    sp("create", "--label", "A", "--with-db", cwd=site, check=True)
    delete_rows(db, 10)
    (site / "app.py").write_text("VERSION = 2\n")
    # The site holds the database open (as a running app would) the whole time.
    app = sqlite3.connect(db)
    try:
        proc = sp("rollback", "A", "--with-db", "--yes", "--no-health", cwd=site)
        assert proc.returncode == 0, proc.stderr
        assert "database restored to the snapshot of" in proc.stdout
        # The database was restored: it is not among what the rollback left as it was.
        left = [line for line in proc.stdout.splitlines() if line.startswith("not restored")]
        assert not any("data/site.db" in line for line in left), proc.stdout
        assert app.execute("SELECT count(*) FROM t").fetchone()[0] == 500  # same connection
    finally:
        app.close()
    assert sqlite_rows(db) == kept
    assert (site / "app.py").read_text() == "VERSION = 1\n"
    # The safety checkpoint holds the database as it was just before: undo brings that back.
    safety = sp_json("list", cwd=site)
    safety_id = next(c["id"] for c in safety if c["kind"] == "safety")
    sp("rollback", safety_id, "--with-db", "--yes", "--no-health", cwd=site, check=True)
    assert len(sqlite_rows(db)) == 10
    assert (site / "app.py").read_text() == "VERSION = 2\n"


def test_rollback_without_db_says_the_database_was_left_as_it_was(tmp_path: Path) -> None:
    site = sqlite_site(tmp_path)
    sp("create", "--label", "A", "--with-db", cwd=site, check=True)
    (site / "app.py").write_text("VERSION = 2\n")
    proc = sp("rollback", "A", "--yes", "--no-health", cwd=site, check=True)
    left = [line for line in proc.stdout.splitlines() if line.startswith("not restored")]
    assert len(left) == 1 and "data/site.db" in left[0], proc.stdout
    doc = sp_json("rollback", "A", "--with-db", "--yes", "--no-health", cwd=site)
    assert "data/site.db" not in [item["path"] for item in doc["not_restored"]]


def test_rollback_without_with_db_leaves_the_database_alone(tmp_path: Path) -> None:
    site = sqlite_site(tmp_path, extra='snapshot = "always"\n')
    db = site / "data" / "site.db"
    sp("create", "--label", "A", cwd=site, check=True)  # snapshot = "always"
    assert "sqlite data/site.db" in sp("show", "A", cwd=site, check=True).stdout
    delete_rows(db, 10)
    sp("rollback", "A", "--yes", "--no-health", cwd=site, check=True)
    assert len(sqlite_rows(db)) == 10


def test_with_db_refused_before_anything_changes(tmp_path: Path) -> None:
    site = sqlite_site(tmp_path)
    sp("create", "--label", "nodb", cwd=site, check=True)
    (site / "app.py").write_text("VERSION = 2\n")
    before = snapshot(site, skip=(".safepoint",))
    proc = sp("rollback", "nodb", "--with-db", "--yes", "--no-health", cwd=site)
    assert_one_line_error(proc, 2)
    assert "has no database snapshot" in proc.stderr
    assert snapshot(site, skip=(".safepoint",)) == before
    assert len(sp_json("list", cwd=site)) == 1  # no safety checkpoint either


def test_with_db_needs_a_database_section(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "app.py").write_text("x\n")
    sp("init", cwd=site, check=True)
    proc = sp("create", "--with-db", cwd=site)
    assert_one_line_error(proc, 2)
    assert "[database]" in proc.stderr


def test_failure_between_database_restore_and_file_switch_leaves_both_as_before(
    tmp_path: Path,
) -> None:
    """The target's file content is damaged in the repository: staging the files fails after
    the database was restored; the database goes back and no file changed."""
    site = sqlite_site(tmp_path)
    db = site / "data" / "site.db"
    content = b"VERSION = 1  # only in the target\n" * 50
    (site / "app.py").write_bytes(content)
    sp("create", "--label", "A", "--with-db", cwd=site, check=True)
    delete_rows(db, 10)
    (site / "app.py").write_text("VERSION = 2\n")
    pack, offset = blob_location(site / ".safepoint", content)
    flip(pack, offset + 60)  # inside the stored (compressed) content
    files_before = snapshot(site, skip=("data", ".safepoint"))
    rows_before = sqlite_rows(db)
    proc = sp("rollback", "A", "--with-db", "--yes", "--no-health", cwd=site)
    assert_one_line_error(proc, 3)
    assert "the database was put back as it was" in proc.stderr
    assert sqlite_rows(db) == rows_before
    assert snapshot(site, skip=("data", ".safepoint")) == files_before
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_unhealthy_target_is_undone_with_its_database(tmp_path: Path) -> None:
    site = sqlite_site(
        tmp_path,
        extra="[health]\nretries = 1\ntimeout = 2\ndeadline = 5\nsettle = 0\n"
        '[[health.command]]\nrun = "grep -q 2 app.py"\n',
    )
    db = site / "data" / "site.db"
    sp("create", "--label", "A", "--with-db", cwd=site, check=True)
    delete_rows(db, 10)
    (site / "app.py").write_text("VERSION = 2\n")
    proc = sp("rollback", "A", "--with-db", "--yes", cwd=site)
    assert proc.returncode == 4, proc.stderr
    assert len(sqlite_rows(db)) == 10  # the database as it was before the rollback
    assert (site / "app.py").read_text() == "VERSION = 2\n"


def test_snapshot_taken_while_a_writer_inserts_is_a_committed_prefix(tmp_path: Path) -> None:
    site = sqlite_site(tmp_path, rows=0)
    db = site / "data" / "site.db"
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA journal_mode=WAL")
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        conn = sqlite3.connect(db, timeout=30)
        try:
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                conn.executemany(
                    "INSERT INTO t (v) VALUES (?)", [(f"{written[0]}:{k}" * 20,) for k in range(50)]
                )
                conn.commit()  # 50 rows a transaction: a snapshot must never split one
                written[0] += 1
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 20:
            time.sleep(0.01)
        sp("create", "--label", "busy", "--with-db", cwd=site, check=True)
    finally:
        stop.set()
        thread.join(timeout=70)
    out = tmp_path / "restored"
    sp("restore", "busy", "--to", out, "--with-db", cwd=site, check=True)
    copy = out / "data" / "site.db"
    with sqlite3.connect(copy) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count, top = c.execute("SELECT count(*), coalesce(max(id), 0) FROM t").fetchone()
    assert count > 0 and count % 50 == 0 and count == top, (count, top)  # committed prefix
    assert count < written[0] * 50  # the writer went on after it


def test_restore_to_with_db_writes_the_database_file_there(tmp_path: Path) -> None:
    site = sqlite_site(tmp_path)
    sp("create", "--label", "A", "--with-db", cwd=site, check=True)
    delete_rows(site / "data" / "site.db", 0)
    out = tmp_path / "copy"
    doc = sp_json("restore", "A", "--to", out, "--with-db", cwd=site)
    assert doc["database"] == str(out / "data" / "site.db")
    assert len(sqlite_rows(out / "data" / "site.db")) == 500
    assert sqlite_rows(site / "data" / "site.db") == []  # the live one left alone


def test_verify_names_a_damaged_snapshot_chunk(tmp_path: Path) -> None:
    site = sqlite_site(tmp_path)
    cp = sp_json("create", "--with-db", cwd=site)
    info = cp["extra"]["database"]
    assert info["engine"] == "sqlite" and info["name"] == "data/site.db"
    assert sp("verify", cwd=site).returncode == 0
    with Repository.open(site / ".safepoint") as repo:
        chunk_id, _ = read_top(repo, info)[-1]
    pack, offset = blob_location(site / ".safepoint", chunk_id, by_id=True)
    flip(pack, offset + 40)
    proc = sp("verify", cwd=site)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "(database snapshot)" in proc.stdout + proc.stderr


def test_second_snapshot_of_an_unchanged_database_stores_almost_nothing(tmp_path: Path) -> None:
    site = sqlite_site(tmp_path, rows=20000)
    first = sp_json("create", "--with-db", cwd=site)
    second = sp_json("create", "--with-db", cwd=site)
    size = first["extra"]["database"]["bytes"]
    assert size > 300_000
    assert second["new_bytes"] < 20_000, json.dumps(second)
