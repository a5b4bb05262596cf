"""The site's database with checkpoints: which database, when it is snapshotted, and putting
it back in a rollback (the work itself is in dbsnap/).

``site_database`` is the one place that says which database a site has: ``[database]`` in
safepoint.toml, else, when asked for one (``--with-db``), the ``default`` database of a Django
site's own settings (read through its interpreter: django/probe.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from safepoint.config import ALWAYS, CONFIG_NAME, POSTGRESQL, SQLITE, DatabaseConfig
from safepoint.dbsnap.snapshot import (
    check_tools,
    display_name,
    restore_beside,
    restore_live,
    take_snapshot,
)
from safepoint.django.probe import DatabaseSettings, databases
from safepoint.errors import (
    IntegrityError,
    OperationalError,
    PendingRecoveryError,
    SafepointError,
    UsageError,
)
from safepoint.ops.site import Site
from safepoint.store.records import Checkpoint
from safepoint.store.snapshots import snapshot_info
from safepoint.store.writer import BlobWriter


def site_database(site: Site, *, ask_django: bool = False) -> DatabaseConfig | None:
    """The site's database, or None: ``[database]``, else (with ``ask_django``, since it
    starts the site's interpreter) the ``default`` entry of a Django site's DATABASES, when
    its engine is SQLite or PostgreSQL. Everything below takes a DatabaseConfig and does not
    care where it came from."""
    if site.config.database is not None or not ask_django:
        return site.config.database
    return from_django(site, databases(site.config))


def from_django(site: Site, found: list[DatabaseSettings]) -> DatabaseConfig | None:
    """The ``default`` database of Django's settings as a DatabaseConfig (snapshots with
    ``--with-db`` only), or None when there is none or its engine is another one."""
    db = next((d for d in found if d.alias == "default"), None)
    if db is None or not db.name:
        return None
    if db.engine.endswith(".sqlite3"):
        path = Path(db.name).expanduser()
        return DatabaseConfig(SQLITE, path=path if path.is_absolute() else site.root / path)
    if db.engine.endswith((".postgresql", ".postgresql_psycopg2", ".postgis")):
        host = quote(db.host, safe="") if db.host else ""  # a socket folder's "/" too
        where = f"{quote(db.user, safe='')}@{host}" if db.user else host
        port = f":{db.port}" if db.port else ""
        name = quote(db.name, safe="")
        return DatabaseConfig(POSTGRESQL, url=f"postgresql://{where}{port}/{name}")
    return None


def _configured(site: Site) -> DatabaseConfig:
    db = site_database(site, ask_django=True)
    if db is None:
        raise UsageError(
            f"--with-db needs the site's database: add [database] to {site.root / CONFIG_NAME} "
            '(engine = "sqlite", path = "..." or engine = "postgresql", url = "..."), or '
            "give the Django settings a SQLite or PostgreSQL default database"
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


def restored_file(site: Site, db: DatabaseConfig | None) -> str | None:
    """The file under the root that restoring ``db`` rewrites (a SQLite database inside the
    site), relative to the root; None otherwise."""
    if db is None or db.engine != SQLITE or db.path is None:
        return None
    try:
        return db.path.relative_to(site.root).as_posix()
    except ValueError:
        return None


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
