"""PostgreSQL snapshots against a real server (conftest.pg): pg_dump into chunks, restore into a
new database swapped in by rename, and one clear line when the server or pg_dump is missing."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

from tests.dbsnap.conftest import PgServer
from tests.helpers import assert_one_line_error, snapshot, sp, sp_json
from tests.restore.test_faults import blob_location, flip

_names = itertools.count()


def pg_site(tmp_path: Path, pg: PgServer, *, url: str | None = None) -> tuple[Path, str]:
    """A site whose [database] is a new database of ``pg`` with table t of 300 rows."""
    name = f"site_{os.getpid()}_{next(_names)}"
    pg.psql("postgres", f"CREATE DATABASE {name}")
    pg.psql(name, "CREATE TABLE t (id serial PRIMARY KEY, v text)")
    pg.psql(name, "INSERT INTO t (v) SELECT 'row ' || g FROM generate_series(1, 300) g")
    root = tmp_path / "site"
    root.mkdir()
    (root / "app.py").write_text("VERSION = 1\n")
    sp("init", cwd=root, check=True)
    (root / "safepoint.toml").write_text(
        f'[database]\nengine = "postgresql"\nurl = "{url or pg.url(name)}"\n'
    )
    return root, name


def count(pg: PgServer, name: str) -> int:
    return int(pg.psql(name, "SELECT count(*) FROM t"))


def test_rollback_with_db_brings_back_rows_deleted_after_the_checkpoint(
    tmp_path: Path, pg: PgServer
) -> None:
    site, name = pg_site(tmp_path, pg)
    cp = sp_json("create", "--label", "A", "--with-db", cwd=site)
    assert cp["extra"]["database"]["engine"] == "postgresql"
    assert cp["extra"]["database"]["name"] == name
    pg.psql(name, "DELETE FROM t WHERE id > 10")
    pg.psql(name, "CREATE TABLE added_later (x int)")  # a later migration's table
    (site / "app.py").write_text("VERSION = 2\n")
    # A session of the site, connected to the live database through the rollback.
    app = subprocess.Popen(
        ["psql", "-X", "-q", "-d", pg.url(name)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        app.stdin.write("SELECT 1;\n")  # type: ignore[union-attr]
        app.stdin.flush()  # type: ignore[union-attr]
        proc = sp("rollback", "A", "--with-db", "--yes", "--no-health", cwd=site)
        assert proc.returncode == 0, proc.stderr
    finally:
        app.kill()
        app.wait(timeout=10)
    assert count(pg, name) == 300
    assert pg.psql(name, "SELECT to_regclass('added_later') IS NULL") == "t"  # exactly as it was
    assert (site / "app.py").read_text() == "VERSION = 1\n"
    assert not {d for d in pg.databases() if d.startswith(name + "_sp_")}  # nothing left over
    assert sp("verify", cwd=site).returncode == 0
    # The safety checkpoint holds the database as it was just before the rollback.
    safety = next(c for c in sp_json("list", cwd=site) if c["kind"] == "safety")
    assert safety["extra"]["database"]["engine"] == "postgresql"
    sp("rollback", safety["id"], "--with-db", "--yes", "--no-health", cwd=site, check=True)
    assert count(pg, name) == 10


def test_restore_to_with_db_makes_a_new_database_beside_the_live_one(
    tmp_path: Path, pg: PgServer
) -> None:
    site, name = pg_site(tmp_path, pg)
    cp = sp_json("create", "--label", "A", "--with-db", cwd=site)
    pg.psql(name, "DELETE FROM t")
    doc = sp_json("restore", "A", "--to", tmp_path / "copy", "--with-db", cwd=site)
    assert doc["database"] == f"{name}_{cp['id'][:12]}"
    assert count(pg, doc["database"]) == 300
    assert count(pg, name) == 0  # the live one left alone


def test_second_dump_of_an_unchanged_database_stores_little(tmp_path: Path, pg: PgServer) -> None:
    site, name = pg_site(tmp_path, pg)
    pg.psql(name, "INSERT INTO t (v) SELECT md5(g::text) FROM generate_series(1, 50000) g")
    first = sp_json("create", "--with-db", cwd=site)
    pg.psql(name, "UPDATE t SET v = 'changed' WHERE id BETWEEN 20000 AND 20100")
    second = sp_json("create", "--with-db", cwd=site)
    size = second["extra"]["database"]["bytes"]
    assert size > 1_000_000
    assert second["new_bytes"] < first["new_bytes"] / 4, (first["new_bytes"], second["new_bytes"])


def test_unreachable_server_is_one_line_and_nothing_changes(tmp_path: Path, pg: PgServer) -> None:
    url = f"postgresql://{pg.user}@/nowhere?host={tmp_path / 'no-server'}"
    site, _ = pg_site(tmp_path, pg, url=url)
    proc = sp("create", "--with-db", cwd=site)
    assert_one_line_error(proc, 1)
    assert "cannot snapshot the PostgreSQL database nowhere" in proc.stderr
    assert sp_json("list", cwd=site) == []


def test_pg_dump_missing_is_one_line_and_nothing_changes(tmp_path: Path, pg: PgServer) -> None:
    site, name = pg_site(tmp_path, pg)
    sp("create", "--label", "A", "--with-db", cwd=site, check=True)
    pg.psql(name, "DELETE FROM t")
    (site / "app.py").write_text("VERSION = 2\n")
    before = snapshot(site, skip=(".safepoint",))
    empty = tmp_path / "bin"
    empty.mkdir()
    for args in (("create", "--with-db"), ("rollback", "A", "--with-db", "--yes", "--no-health")):
        proc = sp(*args, cwd=site, env={"PATH": str(empty)})
        assert_one_line_error(proc, 1)
        assert "is not installed" in proc.stderr and "nothing was changed" in proc.stderr
    assert snapshot(site, skip=(".safepoint",)) == before
    assert count(pg, name) == 0
    assert len(sp_json("list", cwd=site)) == 1


def test_json_record_names_the_snapshot(tmp_path: Path, pg: PgServer) -> None:
    site, name = pg_site(tmp_path, pg)
    cp = sp_json("create", "--with-db", cwd=site)
    shown = sp("show", cp["id"], cwd=site, check=True).stdout
    assert f"postgresql {name}" in shown
    assert json.loads(json.dumps(cp["extra"]["database"]))["top"]


def test_failure_between_database_restore_and_file_switch_leaves_both_as_before(
    tmp_path: Path, pg: PgServer
) -> None:
    """Staging the target's files fails (its stored content is damaged) after the database
    was swapped: the safety snapshot is swapped back, and no file changed."""
    site, name = pg_site(tmp_path, pg)
    content = b"VERSION = 1  # only in the target\n" * 50
    (site / "app.py").write_bytes(content)
    sp("create", "--label", "A", "--with-db", cwd=site, check=True)
    pg.psql(name, "DELETE FROM t WHERE id > 10")
    (site / "app.py").write_text("VERSION = 2\n")
    pack, offset = blob_location(site / ".safepoint", content)
    flip(pack, offset + 60)
    before = snapshot(site, skip=(".safepoint",))
    proc = sp("rollback", "A", "--with-db", "--yes", "--no-health", cwd=site)
    assert_one_line_error(proc, 3)
    assert "the database was put back as it was" in proc.stderr
    assert count(pg, name) == 10
    assert snapshot(site, skip=(".safepoint",)) == before
    assert not {d for d in pg.databases() if d.startswith(name + "_sp_")}
