"""Taking and restoring a database snapshot: the engine's copy, then its chunks (see chunks.py).

Every copy goes through a temporary folder ``.dbsnap-*`` in the repository (same filesystem
as the packs, never a small /tmp), removed afterwards; a crash's leftover is removed by the
next snapshot.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from safepoint.config import POSTGRESQL, SQLITE, DatabaseConfig
from safepoint.dbsnap import chunks, postgres, sqlite
from safepoint.errors import OperationalError
from safepoint.store.repository import Repository
from safepoint.store.writer import BlobWriter

TEMP_PREFIX = ".dbsnap-"


def display_name(db: DatabaseConfig, root: Path) -> str:
    """How records and messages name the database: the SQLite file relative to the root (when
    under it), or the PostgreSQL database's name."""
    if db.engine == SQLITE:
        assert db.path is not None
        try:
            return str(db.path.relative_to(root))
        except ValueError:
            return str(db.path)
    assert db.url is not None
    return postgres.database_name(db.url)


def check_tools(db: DatabaseConfig) -> None:
    """Refuse before anything changes when the engine's client programs are missing."""
    if db.engine == POSTGRESQL:
        postgres.require("pg_dump", "pg_restore", "psql")


@contextmanager
def scratch(repo: Repository) -> Iterator[Path]:
    for old in repo.path.glob(TEMP_PREFIX + "*"):  # a crash's leftover (we hold the lock)
        shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=repo.path))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def take_snapshot(
    repo: Repository, writer: BlobWriter, db: DatabaseConfig, *, name: str
) -> dict[str, Any]:
    """Copy the live database and store it through ``writer``; returns ``extra["database"]``."""
    with scratch(repo) as tmp:
        copy = tmp / "snapshot"
        if db.engine == SQLITE:
            assert db.path is not None
            sqlite.backup_to_file(db.path, copy)
        else:
            assert db.url is not None
            postgres.dump(db.url, copy, timeout=db.timeout)
        return store_copy(writer, copy, engine=db.engine, name=name)


def store_copy(writer: BlobWriter, copy: Path, *, engine: str, name: str) -> dict[str, Any]:
    """Store ``copy`` (a SQLite file, or a ``pg_dump``) cut as its engine's snapshots are;
    returns ``extra["database"]``. The same bytes always give the same top blob, which is how
    ``import`` checks a snapshot against the record it came with."""
    if engine == SQLITE:
        size = chunks.sqlite_piece_size(copy)
        pieces = chunks.fixed_pieces(copy, size)
        chunking = f"fixed-{size}"
    else:
        pieces = chunks.cdc_pieces(copy)
        chunking = chunks.CDC_NAME
    return chunks.store_snapshot(writer, engine=engine, name=name, chunking=chunking, pieces=pieces)


def restore_live(repo: Repository, info: dict[str, Any], db: DatabaseConfig) -> None:
    """Bring the live database to the stored snapshot ``info``."""
    _same_engine(info, db)
    with scratch(repo) as tmp:
        copy = tmp / "restore"
        chunks.write_snapshot(repo, info, copy)
        if db.engine == SQLITE:
            assert db.path is not None
            sqlite.restore_into(copy, db.path)
        else:
            assert db.url is not None
            postgres.restore_swap(db.url, copy, timeout=db.timeout)


def restore_beside(
    repo: Repository,
    info: dict[str, Any],
    db: DatabaseConfig,
    *,
    root: Path,
    dest: Path,
    suffix: str,
) -> str:
    """``restore --to DEST``: a SQLite snapshot becomes the database file at its place under
    ``dest``; a PostgreSQL one a new database ``<name>_<suffix>`` beside the live one (which
    is left alone). Returns where it went."""
    _same_engine(info, db)
    if db.engine == SQLITE:
        assert db.path is not None
        try:
            rel = db.path.relative_to(root)
        except ValueError:
            raise OperationalError(
                f"the SQLite database {db.path} is outside the site root; restore it by hand "
                "(see README, 'Database snapshots')"
            ) from None
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        chunks.write_snapshot(repo, info, target)  # a new file no app has open
        return str(target)
    assert db.url is not None
    name = f"{postgres.database_name(db.url)[: 62 - len(suffix)]}_{suffix}"
    with scratch(repo) as tmp:
        copy = tmp / "restore"
        chunks.write_snapshot(repo, info, copy)
        postgres.restore_new(db.url, copy, name, timeout=db.timeout)
    return name


def _same_engine(info: dict[str, Any], db: DatabaseConfig) -> None:
    if info.get("engine") != db.engine:
        raise OperationalError(
            f"the checkpoint's database snapshot is {info.get('engine')}, but [database] "
            f"engine is {db.engine}; nothing was changed"
        )
