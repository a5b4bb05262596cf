"""``fleet rollback REF --with-db`` on hosts that share one database: the database goes back to
REF's snapshot once (on the first host), every host's files go to REF."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.fleetsite import HOSTS, Fleet, four_hosts
from tests.helpers import sp, write

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with four_hosts(tmp_path) as f:
        yield f


def _value(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("select v from state").fetchone()[0])


def _set(db: Path, value: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("create table if not exists state (v text)")
        conn.execute("delete from state")
        conn.execute("insert into state values (?)", (value,))
    conn.close()


def test_with_db_puts_the_shared_database_back_once_and_every_host_at_ref(fleet: Fleet) -> None:
    db, web1 = _v3_with_the_database(fleet)
    _set(db, "written after v3")

    doc = fleet.rollback("v3", "--with-db", "--batches", "1,100%")
    assert doc["outcome"] == "rolled back", doc
    assert _value(db) == "v3"
    v3 = fleet.checkpoint("v3")
    assert {h: fleet.at(h) for h in HOSTS} == dict.fromkeys(HOSTS, v3)
    assert all((r / "app.txt").read_text() == "v3\n" for r in fleet.roots.values())
    # Once: only the first host took a safety snapshot of the database before restoring it;
    # a second restore by a later host would have put back what the first one had restored.
    safeties = [
        c for c in _list(web1) if c["kind"] == "safety" and c.get("extra", {}).get("database")
    ]
    assert len(safeties) == 1, safeties


def _v3_with_the_database(fleet: Fleet) -> tuple[Path, Path]:
    """Every host configured with one SQLite database outside every root (the hosts' one
    database); web1 at v3, checkpointed with it (label v3). Returns (database, web1's root)."""
    db = fleet.base / "shared.sqlite3"
    _set(db, "v3")
    for root in fleet.roots.values():  # before [health], which Fleet.expect rewrites
        toml = root / "safepoint.toml"
        head, sep, health = toml.read_text().partition("\n[health]")
        toml.write_text(f'{head}\n[database]\nengine = "sqlite"\npath = "{db}"\n{sep}{health}')
    web1 = fleet.roots["web1"]
    write(web1 / "app.txt", "v3\n")
    write(web1 / "health.txt", "ok v3\n")
    sp("create", "--label", "v3", "--with-db", cwd=web1, check=True)
    return db, web1


def test_a_with_db_run_that_stops_puts_the_shared_database_back_too(fleet: Fleet) -> None:
    """The database host's rollback restored REF's snapshot; a later batch fails; the fleet
    is put back, and the database with it: not left at REF under the code of before."""
    db, web1 = _v3_with_the_database(fleet)
    sp("rollback", "v2", "--yes", "--no-health", cwd=web1, check=True)  # v2 again, as the others
    _set(db, "live, before the run")
    fleet.expect("web4", "ok v2")  # v3 is unhealthy on web4, in the last batch
    before = fleet.snapshots()

    doc = fleet.rollback("v3", "--with-db", "--batches", "1,1,100%", code=4)
    assert doc["outcome"] == "stopped and every host put back", doc
    assert fleet.snapshots() == before
    assert _value(db) == "live, before the run"
    rows = {r["host"]: r for r in doc["hosts"]}
    assert rows["web1"]["state"] == "put back" and rows["web1"]["health"] == "healthy"
    # What the site wrote at v3 is not thrown away: the undo's own safety checkpoint holds it.
    kept = [c for c in _list(web1) if c["kind"] == "safety" and c.get("extra", {}).get("database")]
    assert len(kept) == 2, kept  # the rollback's (the live database) and the undo's (REF's)

    # A second undo finds every host back, and does not restore the database again.
    _set(db, "written after the undo")
    again = fleet.fleet_json("undo")
    assert {r["state"] for r in again["hosts"]} == {"already back"}, again
    assert _value(db) == "written after the undo"


def _list(root: Path) -> list[dict[str, object]]:
    import json

    doc = json.loads(sp("list", "--json", cwd=root, check=True).stdout)
    assert isinstance(doc, list)
    return doc
