"""``restore --to``: a checkpoint written into an empty or new directory (the work:
``restore/materialize.py``), for the command line and the Python API alike.

It only reads the repository and never touches the site, so it takes no lock (as ``export``);
a failure removes what it wrote and leaves the target as it was.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from safepoint.ops.database import database_for_rollback, restore_database_beside
from safepoint.ops.refs import resolve
from safepoint.ops.site import Site
from safepoint.progress import Progress
from safepoint.restore.materialize import restore_to
from safepoint.store.damage import refuse_if_damaged
from safepoint.store.records import Checkpoint


@dataclass(frozen=True)
class RestoreResult:
    checkpoint: Checkpoint
    target: Path  # absolute
    seconds: float
    database: str | None = None  # where the database snapshot went (with_db)

    def summary(self) -> dict[str, object]:
        return {
            "checkpoint": self.checkpoint.id,
            "target": str(self.target),
            "files": self.checkpoint.files,
            "bytes": self.checkpoint.bytes,
            "seconds": round(self.seconds, 3),
            "database": self.database,
        }


def restore_checkpoint(
    site: Site,
    ref: str,
    target: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    with_db: bool = False,
) -> RestoreResult:
    """Write the checkpoint ``ref`` names (``ops/refs.py``) into ``target``, which must be an
    empty directory or absent (UsageError otherwise); a relative ``target`` is taken from the
    current directory. ``with_db``: its database snapshot too, never into the live database
    (a SQLite file under ``target``, or a new PostgreSQL database beside the live one)."""
    started = time.monotonic()
    repo = site.repository
    cp = resolve(ref, repo.listed())
    refuse_if_damaged(repo, cp)  # repair found its data gone: say so before writing anything
    db = database_for_rollback(site, cp, with_db=with_db)  # refused before anything is written
    dest = Path(target).absolute()
    restore_to(repo, repo.load_manifest(cp), dest, progress=progress)
    database = restore_database_beside(site, cp, db, dest) if db is not None else None
    return RestoreResult(cp, dest, time.monotonic() - started, database)
