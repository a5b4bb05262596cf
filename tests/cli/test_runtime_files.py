"""A real site's database without an extension and gunicorn's pid file, as a user met them:
``init`` and ``create`` name them, no checkpoint holds them, and no rollback touches them, even
to a checkpoint that holds them (made under a rule that has since been removed)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, sp, sp_json, write

CONFIG = '[repository]\npath = ".safepoint"\n'
RUNTIME = ("bakerydemodb", "bakerydemodb-wal", "bakerydemodb-shm", "gunicorn.pid")


@pytest.fixture
def bakery(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """bakerydemo: its SQLite database ``bakerydemodb`` open in WAL mode (as Django keeps it
    while gunicorn serves), so that its -wal and -shm files exist; gunicorn's pid file."""
    root = tmp_path / "bakery"
    write(root / "manage.py", "print('manage')\n")
    write(root / "bakerydemo" / "settings.py", "DATABASES = {'NAME': 'bakerydemodb'}\n")
    write(root / "bakerydemo" / "urls.py", "urlpatterns = []\n")
    db = sqlite3.connect(root / "bakerydemodb", isolation_level=None)
    db.execute("pragma journal_mode=wal")
    db.execute("create table users (name text)")
    db.execute("insert into users values ('admin')")
    write(root / "gunicorn.pid", "4242\n")
    try:
        yield root, db
    finally:
        db.close()


def contents(root: Path) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in RUNTIME if (root / name).exists()}


def users(db: sqlite3.Connection) -> list[str]:
    return [name for (name,) in db.execute("select name from users order by rowid")]


def test_init_and_create_name_what_they_leave_out(
    bakery: tuple[Path, sqlite3.Connection],
) -> None:
    root, _ = bakery
    init = sp("init", cwd=root, check=True)
    assert "bakerydemodb (SQLite database)" in init.stdout
    assert "gunicorn.pid (pid file)" in init.stdout
    proc = sp("create", cwd=root, check=True)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("not in checkpoints:"))
    for part in (
        "bakerydemodb (SQLite database)",
        "bakerydemodb-wal (database journal)",
        "gunicorn.pid (pid file)",
    ):
        assert part in line
    assert proc.stderr == ""  # nothing to warn about
    doc = sp_json("create", cwd=root)
    assert {"path": "bakerydemodb", "what": "SQLite database"} in doc["not_in_checkpoints"]
    files = {e["path"] for e in sp_json("show", "latest", "--files", cwd=root)["entries"]}
    assert "bakerydemo/settings.py" in files
    assert not files & set(RUNTIME)


def test_rollback_to_a_checkpoint_that_holds_them_leaves_them_byte_identical(
    bakery: tuple[Path, sqlite3.Connection],
) -> None:
    root, db = bakery
    sp("init", cwd=root, check=True)
    # Made while a rule re-included them: the checkpoint holds the database as it was then.
    reincluded = '[files]\nexclude = ["!bakerydemodb", "!*-wal", "!*-shm", "!gunicorn.pid"]\n'
    write(root / "safepoint.toml", CONFIG + reincluded)
    sp("create", "--label", "holds-the-db", cwd=root, check=True)
    held = {e["path"] for e in sp_json("show", "latest", "--files", cwd=root)["entries"]}
    assert set(RUNTIME) <= held
    write(root / "safepoint.toml", CONFIG)  # the rule is removed
    db.execute("insert into users values ('signed-up-after-the-checkpoint')")
    db.execute("pragma wal_checkpoint(full)")  # the new row reaches bakerydemodb itself
    write(root / "gunicorn.pid", "5151\n")  # gunicorn restarted since
    write(root / "bakerydemo" / "urls.py", "urlpatterns = [broken\n")
    before = contents(root)
    assert set(before) == set(RUNTIME)

    proc = sp("rollback", "holds-the-db", "--yes", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert contents(root) == before
    assert users(db) == ["admin", "signed-up-after-the-checkpoint"]
    assert (root / "bakerydemo" / "urls.py").read_text() == "urlpatterns = []\n"
    line = next(x for x in proc.stdout.splitlines() if x.startswith("not restored"))
    assert "bakerydemodb (SQLite database)" in line and "gunicorn.pid (pid file)" in line
    assert "*.sqlite3" not in line  # the site's own paths, not the patterns

    # Gone from disk (moved away by hand): the checkpoint's copy is not put back either.
    db.close()
    for name in RUNTIME:
        (root / name).unlink(missing_ok=True)
    doc = sp_json("rollback", "holds-the-db", "--yes", cwd=root)
    assert not [p for p in RUNTIME if (root / p).exists()]
    assert {"path": "bakerydemodb", "why": "SQLite database in the checkpoint"} in doc["spared"]


def test_a_file_that_became_a_database_is_not_rolled_back(
    bakery: tuple[Path, sqlite3.Connection],
) -> None:
    root, _ = bakery
    sp("init", cwd=root, check=True)
    write(root / "data" / "store", "plain text at the checkpoint\n")
    sp("create", "--label", "text", cwd=root, check=True)
    # The app now keeps a database there: written elsewhere, renamed into place.
    with sqlite3.connect(root / "data" / "store.tmp") as other:
        other.execute("create table t (x)")
        other.execute("insert into t values (42)")
    other.close()
    os.replace(root / "data" / "store.tmp", root / "data" / "store")
    proc = sp("create", cwd=root, check=True)
    assert "data/store (SQLite database)" in proc.stdout
    before = (root / "data" / "store").read_bytes()

    sp("rollback", "text", "--yes", cwd=root, check=True)
    assert (root / "data" / "store").read_bytes() == before


def test_the_not_restored_line_waits_for_the_target(
    bakery: tuple[Path, sqlite3.Connection],
) -> None:
    root, _ = bakery
    sp("init", cwd=root, check=True)
    sp("create", cwd=root, check=True)
    proc = sp("rollback", "no-such-label", "--yes", cwd=root)
    assert_one_line_error(proc, 2)
    assert "not restored" not in proc.stdout
    dry = sp("rollback", "latest", "--dry-run", cwd=root, check=True)
    assert "bakerydemodb (SQLite database)" in dry.stdout


def test_a_long_list_is_folded(tmp_path: Path) -> None:
    root = tmp_path / "site"
    write(root / "app.py", "app = 1\n")
    for i in range(30):
        write(root / f"worker{i:02}.pid", f"{i}\n")
    init = sp("init", cwd=root, check=True)
    line = next(x for x in init.stdout.splitlines() if x.startswith("not in checkpoints:"))
    assert line.endswith("and 22 more")
    assert len(sp_json("init", cwd=root)["not_in_checkpoints"]) == 30


def test_a_database_reincluded_by_name_is_checkpointed_and_rolled_back(
    bakery: tuple[Path, sqlite3.Connection],
) -> None:
    """``!bakerydemodb``: the user wants this database kept with the code (a read-only
    catalogue, say); then a rollback does put it back."""
    root, db = bakery
    db.close()
    sp("init", cwd=root, check=True)
    write(root / "safepoint.toml", CONFIG + '[files]\nexclude = ["!bakerydemodb"]\n')
    proc = sp("create", "--label", "catalogue", cwd=root, check=True)
    assert "bakerydemodb" not in proc.stdout  # not named: it is in the checkpoint
    at_checkpoint = (root / "bakerydemodb").read_bytes()
    with sqlite3.connect(root / "bakerydemodb") as again:
        again.execute("insert into users values ('later')")
    again.close()
    assert (root / "bakerydemodb").read_bytes() != at_checkpoint
    sp("rollback", "catalogue", "--yes", cwd=root, check=True)
    assert (root / "bakerydemodb").read_bytes() == at_checkpoint
