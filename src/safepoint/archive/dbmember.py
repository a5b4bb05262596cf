"""The database snapshot in an export, and the restore script's part for it.

A checkpoint with a database snapshot is exported with one more reserved member, right after
the others: ``.safepoint-checkpoint/database.sqlite3`` (SQLite: the database file as the
backup API wrote it) or ``.safepoint-checkpoint/database.dump`` (PostgreSQL: ``pg_dump
--format=custom``). The restore script leaves the site's database alone unless run with
``--with-db``: it then restores a SQLite snapshot with ``sqlite3 LIVE ".restore FILE"`` (the
backup API again, never a copy under a running site), and keeps a PostgreSQL dump beside the
backup with the commands to restore it (a server and its credentials are not the script's to
guess). Import stores the member as the imported checkpoint's snapshot, once it has checked
that it is the snapshot the record names (ops/import_.py).
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from safepoint.archive.layout import META_DIR

DB_FILES = {"sqlite": "database.sqlite3", "postgresql": "database.dump"}
ENGINES = {file: engine for engine, file in DB_FILES.items()}  # member name -> engine


@dataclass(frozen=True)
class DatabaseMember:
    engine: str  # "sqlite" or "postgresql"
    name: str  # the SQLite file relative to the root (or absolute), or the database's name
    size: int
    pieces: Callable[[], Iterator[bytes]]  # the snapshot's bytes, read when written

    @property
    def file_name(self) -> str:
        return DB_FILES[self.engine]

    def tar_info(self, mtime: int) -> tarfile.TarInfo:
        member = tarfile.TarInfo(f"{META_DIR}/{self.file_name}")
        member.mode, member.mtime, member.size = 0o600, mtime, self.size
        return member


def script_values(db: DatabaseMember | None, quote: Callable[[str], str]) -> dict[str, str]:
    """The restore script's placeholders for the database part."""
    return {
        "DB_FILE": quote(db.file_name if db else ""),
        "DB_ENGINE": quote(db.engine if db else ""),
        "DB_NAME": quote(db.name if db else ""),
    }


# The script's function for step 5b (see the header of archive/script_text.py's SCRIPT).
SCRIPT_PART = r"""
# Step 5b: the database snapshot, extracted to $META/$DB_FILE with the rest. Without --with-db
# it is removed again and the site's database is left alone.
restore_database() {
    [ -n "$DB_FILE" ] || return 0
    file=$target/$META/$DB_FILE
    if [ "$with_db" = 0 ]; then
        rm -f "$file"
        say "the database snapshot in the archive was left alone (--with-db restores it)"
        return 0
    fi
    if [ "$DB_ENGINE" = sqlite ]; then
        case $DB_NAME in /*) live=$DB_NAME ;; *) live=$target/$DB_NAME ;; esac
        mkdir -p "${live%/*}" || return 1
        # SQLite's backup API into the live file: the site's connections stay valid.
        (cd "$target/$META" && sqlite3 "$live" ".restore $DB_FILE") || return 1
        rm -f "$file"
        say "database $DB_NAME restored from the archive"
        return 0
    fi
    kept=$backup_dir/${ARCHIVE%%.tar*}.dump
    mv -f "$file" "$kept" || return 1
    say "PostgreSQL dump kept at $kept; restore it into a new database and swap it in:" \
        "createdb -T template0 ${DB_NAME}_new && pg_restore --exit-on-error" \
        "-d ${DB_NAME}_new $kept (then the renames in safepoint's README)"
}
"""
