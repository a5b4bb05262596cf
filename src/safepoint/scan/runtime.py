"""Databases and runtime state: what a site's files are, whatever their names.

A file that starts with the SQLite header is a live database, whatever it is called
(``bakerydemodb``); so are its ``-wal``, ``-shm`` and ``-journal`` siblings. Pid files, sockets
and schedulers' state files are runtime state. None of them belongs in a checkpoint, and a
rollback must never write over them: a restored database loses what users did since, a restored
pid file makes the next reload signal a dead process.

The walk records, for each directory, which children it left out and why (``why_excluded``);
content is looked at only where a file is read anyway (hashed because it is new or changed), so
detection costs nothing on an unchanged tree.
"""

from __future__ import annotations

import os
import re

SQLITE_HEADER = b"SQLite format 3\0"
DB_SIBLINGS = ("-wal", "-shm", "-journal")

# Why a child was left out. Those in RUNTIME are what ``init`` and ``create`` name.
DATABASE = "SQLite database"
DB_JOURNAL = "database journal"
PID_FILE = "pid file"
SOCKET = "socket"
SCHEDULE = "scheduler state"
VENV = "virtual environment"
REPOSITORY = "a link to the repository"
OWN = "safepoint's own"  # the repository, safepoint.toml, .safepointignore, temporary files
EXCLUDED = "excluded by the rules"
RUNTIME = frozenset({DATABASE, DB_JOURNAL, PID_FILE, SOCKET, SCHEDULE})
# Verdicts that depend on a file's content: they stand only while the file is unchanged.
BY_CONTENT = frozenset({DATABASE})

# The default patterns for runtime state (scan/rules.py adds them to the defaults). Not
# "*.lock": yarn.lock, poetry.lock and Pipfile.lock are code.
RUNTIME_EXCLUDES: tuple[str, ...] = ("*.pid", "*.sock", "celerybeat-schedule*")

_BY_NAME = (  # the first match names it: celerybeat-schedule.db is the scheduler's
    (re.compile(r"celerybeat-schedule.*\Z", re.S), SCHEDULE),
    (re.compile(r".*-(wal|shm|journal)\Z", re.S), DB_JOURNAL),
    (re.compile(r".*\.sqlite3?(-.*)?\Z|.*\.db\Z", re.S), DATABASE),
    (re.compile(r".*\.pid\Z", re.S), PID_FILE),
    (re.compile(r".*\.sock\Z", re.S), SOCKET),
)


def kind_by_name(name: str, is_dir: bool) -> str:
    """What an excluded child is, as far as its name tells (EXCLUDED when it tells nothing)."""
    if not is_dir:
        for pattern, kind in _BY_NAME:
            if pattern.match(name):
                return kind
    return EXCLUDED


PAGE = 512  # a SQLite database is whole pages of at least 512 bytes


def could_be_database(size: int) -> bool:
    """Whether a file of ``size`` bytes may be a SQLite database (its content was looked at)."""
    return size >= PAGE and size % PAGE == 0


def is_database(head: bytes) -> bool:
    """Whether content starting with ``head`` is a SQLite database."""
    return head.startswith(SQLITE_HEADER)


def file_is_database(path: str | os.PathLike[str]) -> bool:
    """Whether the regular file at ``path`` (never followed if a link) is a SQLite database."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return is_database(os.pread(fd, len(SQLITE_HEADER), 0))
    except OSError:  # a directory, or unreadable: not a database we could lose
        return False
    finally:
        os.close(fd)


def sibling_of(name: str, databases: set[str]) -> bool:
    """Whether ``name`` is the WAL, SHM or journal file of one of ``databases``."""
    return any(name.endswith(s) and name[: -len(s)] in databases for s in DB_SIBLINGS)
