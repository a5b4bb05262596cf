"""A 200 MB SQLite database, 1% of its rows changed: the next snapshot stores a small part of
it again (fixed page-aligned chunks; see dbsnap/chunks.py)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from safepoint.store.repository import Repository
from safepoint.store.snapshots import read_top
from tests.dbsnap.conftest import sqlite_site
from tests.helpers import sp_json

ROWS = 500_000  # ~420 bytes each: ~210 MB


def chunk_ids(repo_path: Path, info: dict[str, object]) -> set[bytes]:
    with Repository.open(repo_path) as repo:
        return {blob_id for blob_id, _ in read_top(repo, info)}


@pytest.mark.slow
def test_one_percent_of_rows_changed_stores_well_under_a_fifth_again(tmp_path: Path) -> None:
    site = sqlite_site(tmp_path, rows=0)
    db = site / "data" / "site.db"
    with sqlite3.connect(db) as c:
        c.execute(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT ?) "
            "INSERT INTO t (v) SELECT hex(randomblob(200)) FROM n",
            (ROWS,),
        )
    size = db.stat().st_size
    assert size > 200_000_000
    started = time.monotonic()
    first = sp_json("create", "--with-db", cwd=site)
    first_seconds = time.monotonic() - started
    # The newest 1% of the rows change (the orders of the last days, say).
    with sqlite3.connect(db) as c:
        c.execute("UPDATE t SET v = hex(randomblob(200)) WHERE id > ?", (ROWS - ROWS // 100,))
    started = time.monotonic()
    second = sp_json("create", "--with-db", cwd=site)
    second_seconds = time.monotonic() - started
    before = chunk_ids(site / ".safepoint", first["extra"]["database"])
    after = chunk_ids(site / ".safepoint", second["extra"]["database"])
    new_raw = len(after - before) / len(after)
    stored = second["new_bytes"] / size
    print(
        f"\n{size / 1e6:.0f} MB database: first snapshot stored {first['new_bytes'] / 1e6:.1f} MB "
        f"in {first_seconds:.1f}s; after 1% of rows changed: {len(after - before)} of "
        f"{len(after)} chunks new ({new_raw:.1%}), {second['new_bytes'] / 1e6:.2f} MB stored "
        f"({stored:.2%} of the database) in {second_seconds:.1f}s"
    )
    assert new_raw < 0.05
    assert stored < 0.05  # "well under 20%"
