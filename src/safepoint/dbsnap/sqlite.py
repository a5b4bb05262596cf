"""SQLite both ways through the online backup API (``sqlite3.Connection.backup``).

A snapshot reads the live database in one backup step, inside one read transaction, so it is a
committed state however the site writes meanwhile (WAL: writers go on; rollback journal: they
wait for the copy). A restore writes the live file through a connection to it, in one write
transaction of the live database: the site's connections see the old or the new content,
never a torn file, and no file is replaced under them (a copy or rename would leave their
open file descriptors on the old inode).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from safepoint.errors import OperationalError

BUSY_SECONDS = 30.0  # how long to wait for the site's own write transactions to end


def backup_to_file(live: Path, dest: Path) -> None:
    """Copy the live database ``live`` into the new file ``dest``."""
    if not live.is_file():
        raise OperationalError(f"the SQLite database {live} does not exist")
    try:
        src = sqlite3.connect(f"file:{live}?mode=ro", uri=True, timeout=BUSY_SECONDS)
        with closing(src), closing(sqlite3.connect(dest)) as out:
            src.backup(out)  # pages=-1: one step, so one consistent read
    except sqlite3.Error as exc:
        raise OperationalError(f"cannot snapshot the SQLite database {live}: {exc}") from None


def restore_into(source: Path, live: Path) -> None:
    """Bring the live database ``live`` to the content of the database file ``source``."""
    try:
        with closing(sqlite3.connect(source)) as src:
            problem = src.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise OperationalError(f"the stored SQLite snapshot is damaged: {problem}")
            with closing(sqlite3.connect(live, timeout=BUSY_SECONDS)) as dst:
                src.backup(dst)
    except sqlite3.Error as exc:
        raise OperationalError(f"cannot restore the SQLite database {live}: {exc}") from None
