"""The site's database with checkpoints: which database, when it is snapshotted, and putting
it back in a rollback (the work itself is in dbsnap/).

``site_database`` is the one place that says which database a site has. Until Django's
settings are read (the migrations work), it is ``[database]`` in safepoint.toml alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from safepoint.config import ALWAYS, CONFIG_NAME, DatabaseConfig
from safepoint.dbsnap.chunks import snapshot_info
from safepoint.dbsnap.snapshot import (
    check_tools,
    display_name,
    restore_beside,
    restore_live,
    take_snapshot,
)
from safepoint.errors import (
    IntegrityError,
    OperationalError,
    PendingRecoveryError,
    SafepointError,
    UsageError,
)
from safepoint.ops.site import Site
from safepoint.store.records import Checkpoint
from safepoint.store.writer import BlobWriter


def site_database(site: Site) -> DatabaseConfig | None:
    """The site's database, or None. MERGE POINT (Django settings): when ``[database]`` is
    absent, the database Django's DATABASES names (read through the site's interpreter)
    plugs in here; everything below takes a DatabaseConfig and does not care where it came
    from."""
    return site.config.database


def _configured(site: Site) -> DatabaseConfig:
    db = site_database(site)
    if db is None:
        raise UsageError(
            f"--with-db needs the site's database: add [database] to {site.root / CONFIG_NAME} "
            '(engine = "sqlite", path = "..." or engine = "postgresql", url = "...")'
        )
    return db


def database_for_create(site: Site, *, with_db: bool) -> DatabaseConfig | None:
    """The database to snapshot with a new checkpoint: with ``--with-db``, or always when
    ``[database] snapshot = "always"``."""
    db = _configured(site) if with_db else site_database(site)
    if db is None or not (with_db or db.snapshot == ALWAYS):
        return None
    check_tools(db)
    return db


def snapshot_database(site: Site, writer: BlobWriter, db: DatabaseConfig) -> dict[str, Any]:
    """Store a snapshot of the live database; the record's ``extra["database"]``."""
    return take_snapshot(site.repository, writer, db, name=display_name(db, site.root))


def database_for_rollback(
    site: Site, target: Checkpoint, *, with_db: bool
) -> DatabaseConfig | None:
    """With ``--with-db``: the database, once sure that ``target`` has a snapshot to bring
    back and the tools are there (before anything changes)."""
    if not with_db:
        return None
    db = _configured(site)
    info = snapshot_info(target.extra)
    if info is None:
        raise UsageError(
            f"checkpoint {target.display_name} has no database snapshot; roll back without "
            "--with-db, or name a checkpoint made with one ('safepoint show REF' says)"
        )
    if info.get("engine") != db.engine:
        raise UsageError(
            f"checkpoint {target.display_name} holds a {info.get('engine')} snapshot, but "
            f"[database] engine is {db.engine}"
        )
    check_tools(db)
    return db


@contextmanager
def database_restored(
    site: Site, db: DatabaseConfig | None, target: Checkpoint, safety: Checkpoint
) -> Iterator[None]:
    """Bring the live database to ``target``'s snapshot, then run the block (the file
    switch). If the block fails, the live database is put back to the safety checkpoint's
    snapshot before the failure goes on (an interruption mid-switch, left for ``recover``,
    keeps the target's database: recover finishes towards the target)."""
    if db is None:
        yield
        return
    info = snapshot_info(target.extra)
    assert info is not None  # database_for_rollback checked
    restore_live(site.repository, info, db)
    try:
        yield
    except PendingRecoveryError:
        raise
    except BaseException as exc:
        try:
            put_back_database(site, db, safety)
        except SafepointError as undo:
            raise OperationalError(
                f"{exc}; and putting the database back failed too: {undo} (its snapshot is "
                f"in safety checkpoint {safety.short_id})"
            ) from None
        if type(exc) in _SAYS_WHY:  # one line that says the database is back too
            raise type(exc)(f"{exc}; the database was put back as it was") from None
        raise


_SAYS_WHY = (OperationalError, IntegrityError, UsageError)


def put_back_database(site: Site, db: DatabaseConfig | None, safety: Checkpoint) -> None:
    """Undo a database restore: the live database as the safety checkpoint stored it."""
    info = snapshot_info(safety.extra)
    if db is None or info is None:
        return
    restore_live(site.repository, info, db)


def restore_database_beside(site: Site, cp: Checkpoint, db: DatabaseConfig, dest: Path) -> str:
    """``restore --to DEST --with-db``: the snapshot of ``cp`` written beside the live database,
    never into it (see dbsnap.snapshot.restore_beside); returns where it went."""
    info = snapshot_info(cp.extra)
    assert info is not None  # database_for_rollback checked
    return restore_beside(site.repository, info, db, root=site.root, dest=dest, suffix=cp.short_id)
