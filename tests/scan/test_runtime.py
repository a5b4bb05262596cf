"""Databases found by their content and runtime files by their kind: left out of the tree
whatever their names, the verdict carried by the tree cache while a file is unchanged and
judged again when it changes."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from safepoint.ops.site import Site, open_site
from safepoint.ops.spare import find_runtime, found_runtime
from safepoint.scan.runtime import DATABASE, DB_JOURNAL, PID_FILE, SCHEDULE, SOCKET
from safepoint.scan.tree import Tree, read_tree
from safepoint.store.pack import LARGE
from tests.helpers import sp, sp_json, write


def make_db(path: Path, rows: int = 1) -> None:
    """A real SQLite database (rollback journal mode: one file)."""
    with sqlite3.connect(path) as db:
        db.execute("create table if not exists users (name text)")
        db.executemany("insert into users values (?)", [(f"user{i}",) for i in range(rows)])
    db.close()


@pytest.fixture
def bakery(tmp_path: Path) -> Iterator[Path]:
    """A Wagtail-like site: its database file has no extension, gunicorn writes a pid file."""
    root = tmp_path / "bakery"
    write(root / "manage.py", "print('manage')\n")
    write(root / "bakerydemo" / "settings.py", "DATABASES = {'NAME': 'bakerydemodb'}\n")
    write(root / "yarn.lock", "# yarn lockfile v1\n")  # code, not runtime state
    write(root / "poetry.lock", "[[package]]\n")
    make_db(root / "bakerydemodb")
    write(root / "gunicorn.pid", "4242\n")
    write(root / "celerybeat-schedule", b"\0\0\0\0")
    sp("init", cwd=root, check=True)
    yield root


def read(s: Site) -> Tree:
    return read_tree(s.root, s.rules, s.repository.cache_path)


def paths(root: Path) -> set[str]:
    with open_site(root) as s:
        return {e.path for e in read(s).entries}


def test_a_database_without_an_extension_and_runtime_files_are_left_out(bakery: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.fspath(bakery / "app.sock"))  # a live socket: runtime state, not a warning
    with sqlite3.connect(bakery / "bakerydemodb") as live:
        live.execute("pragma journal_mode=wal")
        live.execute("insert into users values ('during')")
        assert (bakery / "bakerydemodb-wal").exists()  # the open connection keeps its WAL
        with open_site(bakery) as s:
            tree = read(s)
    live.close()
    sock.close()
    kept = {e.path for e in tree.entries}
    assert {"manage.py", "bakerydemo/settings.py", "yarn.lock", "poetry.lock"} <= kept
    assert not kept & {"bakerydemodb", "bakerydemodb-wal", "bakerydemodb-shm", "gunicorn.pid"}
    assert dict(found_runtime(tree)) == {
        "app.sock": SOCKET,
        "bakerydemodb": DATABASE,
        "bakerydemodb-shm": DB_JOURNAL,
        "bakerydemodb-wal": DB_JOURNAL,
        "celerybeat-schedule": SCHEDULE,
        "gunicorn.pid": PID_FILE,
    }
    assert tree.skipped == []  # the socket is not a skipped special file


def test_the_siblings_of_a_database_go_with_it_whatever_the_rules_say(bakery: Path) -> None:
    """A rule that re-includes journals (say, for a deploy journal of its own) does not bring
    a database's journal into checkpoints."""
    write(bakery / "safepoint.toml", '[files]\nexclude = ["!*-journal"]\n')
    write(bakery / "deploy-journal", "2024-01-01 deployed\n")
    write(bakery / "bakerydemodb-journal", b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7")
    kept = paths(bakery)
    assert "deploy-journal" in kept
    assert "bakerydemodb-journal" not in kept and "bakerydemodb" not in kept


def test_a_file_that_becomes_a_database_is_left_out_and_the_cache_follows(bakery: Path) -> None:
    write(bakery / "data" / "store", "plain text for now\n")
    sp("create", cwd=bakery, check=True)
    assert "data/store" in paths(bakery)
    make_db(bakery / "data" / "store.new")
    os.replace(bakery / "data" / "store.new", bakery / "data" / "store")  # the rename trick
    sp("create", cwd=bakery, check=True)
    with open_site(bakery) as s:
        again = read(s)
    assert "data/store" not in {e.path for e in again.entries}
    assert ("data/store", DATABASE) in again.excluded
    assert again.hashed == 0  # the cached verdict stood: nothing was read
    # Changed again, into plain text: judged again, and kept.
    os.replace(write(bakery / "data" / "store.txt", "text again\n"), bakery / "data" / "store")
    assert "data/store" in paths(bakery)


def test_a_database_grown_in_place_is_judged_again(bakery: Path) -> None:
    """Its verdict stands only while its stat does: a database that users write to keeps
    being left out, and no checkpoint ever stores it."""
    sp("create", cwd=bakery, check=True)
    make_db(bakery / "bakerydemodb", rows=500)
    with open_site(bakery) as s:
        tree = read(s)
    assert ("bakerydemodb", DATABASE) in tree.excluded
    assert "bakerydemodb" not in {e.path for e in tree.entries}


def test_a_rule_reincludes_a_database_by_name(bakery: Path) -> None:
    write(bakery / "safepoint.toml", '[files]\nexclude = ["!bakerydemodb", "!gunicorn.pid"]\n')
    kept = paths(bakery)
    assert {"bakerydemodb", "gunicorn.pid"} <= kept


def test_a_large_database_is_never_stored(bakery: Path) -> None:
    """Past the size read in pieces: its first bytes tell, and nothing of it reaches a pack."""
    with sqlite3.connect(bakery / "big.data") as db:
        db.execute("create table blobs (b blob)")
        db.executemany("insert into blobs values (?)", [(os.urandom(1 << 20),) for _ in range(34)])
    db.close()
    assert (bakery / "big.data").stat().st_size > LARGE
    doc = sp_json("create", cwd=bakery)
    assert {"path": "big.data", "what": DATABASE} in doc["not_in_checkpoints"]
    packs = sum(p.stat().st_size for p in (bakery / ".safepoint").rglob("*") if p.is_file())
    assert packs < 1 << 20


def test_links_at_excluded_directory_paths_and_links_to_the_repository_are_left_out(
    bakery: Path, tmp_path: Path
) -> None:
    (tmp_path / "volume").mkdir()
    os.symlink(tmp_path / "volume", bakery / "media")
    os.symlink(".safepoint", bakery / "repo-link")
    os.symlink("bakerydemo", bakery / "code-link")  # an ordinary link stays
    kept = paths(bakery)
    assert "code-link" in kept
    assert "media" not in kept and "repo-link" not in kept


def test_init_finds_them_without_reading_the_tree(bakery: Path) -> None:
    with open_site(bakery) as s:
        found = dict(find_runtime(s.root, s.rules))
    assert found == {
        "bakerydemodb": DATABASE,
        "celerybeat-schedule": SCHEDULE,
        "gunicorn.pid": PID_FILE,
    }
