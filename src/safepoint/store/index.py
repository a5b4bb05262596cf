"""The index: SQLite (WAL) mapping blob id -> pack, offset, sizes, codec.

It is a cache of what the packs say. When a writer takes the lock (store/upkeep.py), a pack the
index does not know yet (a crash between renaming a pack and committing its rows leaves exactly
that) is indexed, and a pack it knows that is gone from disk is forgotten with its blobs. When
a blob is stored again because its old copy was damaged, the new location replaces the old.
``rebuild_index`` recreates the index from the packs alone (``safepoint repair index``).
Lookups are safe from several threads. A damaged database file (SQLite's "database disk image
is malformed", "file is not a database") is reported as ``IndexDamagedError``, never as a raw
sqlite3 error, wherever the index is used.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from safepoint.errors import IntegrityError, OperationalError
from safepoint.store.atomic import fsync_dir
from safepoint.store.pack import Location, scan_pack

SCHEMA = """
CREATE TABLE IF NOT EXISTS packs (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (
    id BLOB PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL,
    stored INTEGER NOT NULL, raw INTEGER NOT NULL, codec INTEGER NOT NULL
) WITHOUT ROWID;
"""


REPAIR_HINT = "rebuild it from the packs with 'safepoint repair index'"

F = TypeVar("F", bound=Callable[..., Any])


class IndexDamagedError(IntegrityError):
    """The index's database file is damaged; the packs are not (``repair index`` rebuilds)."""


def _reports_damage(method: F) -> F:
    """Turn sqlite3's errors into one clear line that names the index and the way out."""

    @functools.wraps(method)
    def guarded(self: Index, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.OperationalError as exc:  # locked, read-only, I/O: not damage as such
            raise OperationalError(
                f"index {self.path}: {exc}; if it persists, {REPAIR_HINT}"
            ) from None
        except sqlite3.DatabaseError as exc:  # malformed pages, not a database
            raise IndexDamagedError(
                f"the index {self.path} is damaged ({exc}); {REPAIR_HINT}"
            ) from None

    return guarded  # type: ignore[return-value]


def _guard_methods(cls: type[Index]) -> type[Index]:
    """Every method that touches the database, including ones added later, reports damage."""
    for name, value in list(vars(cls).items()):
        if callable(value) and (not name.startswith("_") or name in ("__init__", "__contains__")):
            setattr(cls, name, _reports_damage(value))
    return cls


@_guard_methods
class Index:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __contains__(self, blob_id: bytes) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM blobs WHERE id=?", (blob_id,)).fetchone()
        return row is not None

    def known(self, blob_ids: Iterable[bytes]) -> set[bytes]:
        """Which of ``blob_ids`` the index holds."""
        return {row[0] for row in self._where_in("SELECT id FROM blobs WHERE id", blob_ids)}

    def lookup(self, blob_id: bytes) -> Location | None:
        with self._lock:
            row = self._db.execute(
                "SELECT p.name, b.offset, b.stored, b.raw, b.codec FROM blobs b "
                "JOIN packs p ON p.id = b.pack WHERE b.id=?",
                (blob_id,),
            ).fetchone()
        return None if row is None else Location(blob_id, *row)

    def lookup_many(self, blob_ids: Iterable[bytes]) -> dict[bytes, Location]:
        """Locations of the given blobs that the index knows (missing ones are left out)."""
        sql = (
            "SELECT b.id, p.name, b.offset, b.stored, b.raw, b.codec FROM blobs b "
            "JOIN packs p ON p.id = b.pack WHERE b.id"
        )
        return {row[0]: Location(*row) for row in self._where_in(sql, blob_ids)}

    def _where_in(self, select: str, blob_ids: Iterable[bytes]) -> list[tuple[Any, ...]]:
        """Rows of ``select ... IN (ids)``, 500 ids per query (SQLite's parameter limit)."""
        ids = list(blob_ids)
        rows: list[tuple[Any, ...]] = []
        with self._lock:
            for start in range(0, len(ids), 500):
                batch = ids[start : start + 500]
                marks = ",".join("?" * len(batch))
                rows.extend(self._db.execute(f"{select} IN ({marks})", batch))
        return rows

    def add(self, locations: Iterable[Location], *, replace: bool = False) -> None:
        """Record locations in one transaction. The first location of a blob wins, unless
        ``replace``: a writer stores a blob again only when its old copy is missing or damaged,
        so the copy it wrote must win."""
        verb = "REPLACE" if replace else "IGNORE"
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                pack_ids: dict[str, int] = {}
                for loc in locations:
                    pid = pack_ids.get(loc.pack)
                    if pid is None:
                        db.execute("INSERT OR IGNORE INTO packs(name) VALUES (?)", (loc.pack,))
                        pid = db.execute(
                            "SELECT id FROM packs WHERE name=?", (loc.pack,)
                        ).fetchone()[0]
                        pack_ids[loc.pack] = pid
                    db.execute(
                        f"INSERT OR {verb} INTO blobs VALUES (?,?,?,?,?,?)",
                        (loc.blob_id, pid, loc.offset, loc.stored_size, loc.raw_size, loc.codec),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def locations(self) -> list[Location]:
        """Every blob the index knows, with its location (gc, check)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT b.id, p.name, b.offset, b.stored, b.raw, b.codec FROM blobs b "
                "JOIN packs p ON p.id = b.pack"
            ).fetchall()
        return [Location(*row) for row in rows]

    def known_packs(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT name FROM packs")}

    def forget_packs(self, names: Iterable[str]) -> int:
        """Drop the packs ``names`` (gone from disk) and every blob the index placed in them,
        so that those blobs count as not stored and are stored again; returns how many blobs."""
        forgotten = 0
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for name in names:
                    row = db.execute("SELECT id FROM packs WHERE name=?", (name,)).fetchone()
                    if row is None:
                        continue
                    forgotten += db.execute("DELETE FROM blobs WHERE pack=?", row).rowcount
                    db.execute("DELETE FROM packs WHERE id=?", row)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return forgotten

    def sync(self, packs_dir: Path) -> int:
        """Index every pack on disk that the index does not know; returns how many."""
        known = self.known_packs()
        new = [p for p in packs_dir.glob("*/*.pack") if p.name.removesuffix(".pack") not in known]
        for path in new:
            self.add(scan_pack(path))
        return len(new)


def rebuild_index(path: Path, packs_dir: Path) -> tuple[int, int, list[str]]:
    """Build a new index at ``path`` from the packs alone: (packs, blobs, problems). It is built
    beside (``index.sqlite.rebuild``), made durable, and renamed over the old one, so a crash
    leaves the old index or the new. The caller holds the repository lock. A pack damaged
    part-way gives the records before the damage, and a problem naming it."""
    tmp = path.with_name(path.name + ".rebuild")
    _remove_database(tmp)
    packs = sorted(packs_dir.glob("*/*.pack"))
    problems: list[str] = []
    blobs = 0
    new = Index(tmp)
    try:
        for pack in packs:
            found: list[Location] = []
            try:
                found.extend(scan_pack(pack))
            except IntegrityError as exc:  # its message names the pack
                problems.append(str(exc))
            except OSError as exc:
                problems.append(f"{pack}: unreadable: {exc.strerror or exc}")
            new.add(found)
            blobs += len(found)
    finally:
        new.close()  # the last connection: its WAL is written back into the file and removed
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    # The old index's WAL must not be replayed into the new file: gone before the rename.
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return len(packs), blobs, problems


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
