"""What a rollback leaves alone whatever the target checkpoint holds, and what the user is told
about it.

The target is filtered by the current rules (``restore/plan.py`` ``filter_target``), but a
checkpoint can still hold what must not be written: one made before a database was found by its
content, or under a rule since removed. And the disk can have changed since the tree was
recorded: a tracked folder became a virtual environment, a file became a database, ``media`` is
now a link to another volume. So at planning time ``spare`` looks at the few paths the plan
touches, on disk and in the repository, and drops those that are (or lie inside) something
excluded: a database (by its content, and its WAL, SHM and journal files), a virtual
environment, a socket, an excluded path that is a link, the repository or a link to it; and any
file whose stored content is a database.
"""

from __future__ import annotations

import os
from dataclasses import replace
from stat import S_ISDIR, S_ISLNK, S_ISREG, S_ISSOCK

from safepoint.errors import IntegrityError
from safepoint.model.entry import DIR, FILE, Entry
from safepoint.ops.site import Site
from safepoint.restore.plan import Plan
from safepoint.scan.rules import Rules
from safepoint.scan.runtime import (
    DATABASE,
    DB_JOURNAL,
    DB_SIBLINGS,
    EXCLUDED,
    OWN,
    REPOSITORY,
    RUNTIME,
    SOCKET,
    SQLITE_HEADER,
    VENV,
    could_be_database,
    file_is_database,
    is_database,
    kind_by_name,
)
from safepoint.scan.tree import Tree
from safepoint.scan.walk import Pending, walk
from safepoint.store.repository import Repository


def found_runtime(tree: Tree) -> list[tuple[str, str]]:
    """(path, what) of the databases and runtime files the scan of ``tree`` left out."""
    return [(path, why) for path, why in tree.excluded if why in RUNTIME]


def not_restored(tree: Tree, *, database: str | None = None) -> list[tuple[str, str]]:
    """(path, what) of everything in the site that a rollback leaves as it is: what the scan
    of ``tree`` left out, but the tool's own files, and ``database`` (the SQLite file, relative
    to the root, that ``--with-db`` brings back) with its WAL, SHM and journal files."""
    restored = {database, *(database + s for s in DB_SIBLINGS)} if database else set()
    return [(path, why) for path, why in tree.excluded if why != OWN and path not in restored]


def find_runtime(root: str | os.PathLike[str], rules: Rules) -> list[tuple[str, str]]:
    """``found_runtime`` without reading the tree: a walk, and a look at the first bytes of
    the files whose size could be a database's (for ``init``)."""
    base = os.fspath(root)
    found: list[tuple[str, str]] = []
    for item in walk(base, rules):
        assert isinstance(item, Pending)  # no cache: every directory is read
        prefix = f"{item.path}/" if item.path else ""
        found += [(prefix + name, why) for name, why in item.excluded if why in RUNTIME]
        found += [
            (e.path, DATABASE)
            for e in item.entries
            if e.kind == FILE
            and could_be_database(e.size)
            and file_is_database(os.path.join(base, e.path))
            and not rules.reincluded(e.path)
        ]
    return sorted(found)


def spare(site: Site, plan: Plan) -> Plan:
    """``plan`` without the steps that would write, remove, rename or re-stamp what must be
    left alone (see the module docstring); ``plan.spared`` says what and why."""
    root = os.fspath(site.root)
    rules = site.rules
    on_disk: dict[str, str] = {"": ""}

    def why(path: str) -> str:  # this path or a directory above it must be left alone
        if path not in on_disk:
            parent = path.rpartition("/")[0]
            on_disk[path] = why(parent) or _left_alone(root, path, rules)
        return on_disk[path]

    spared: dict[str, str] = {}

    def keep(entries: list[Entry], *, stored: bool = False) -> list[Entry]:
        out = []
        for e in entries:
            reason = why(e.path) or _excluded_now(e, rules)
            if not reason and stored and _stored_database(site.repository, e, rules):
                reason = f"{DATABASE} in the checkpoint"
            if reason:
                spared[e.path] = reason
            else:
                out.append(e)
        return out

    kept = replace(
        plan,
        remove=keep(plan.remove),
        mkdir=keep(plan.mkdir),
        write=keep(plan.write, stored=True),
        link=keep(plan.link),
        restamp=keep(plan.restamp),
        dir_meta=keep(plan.dir_meta),
    )
    return replace(kept, spared=sorted(spared.items())) if spared else plan


def _left_alone(root: str, rel: str, rules: Rules) -> str:
    """Why what is on disk at ``rel`` must be left alone ("" when nothing says so)."""
    path = os.path.join(root, rel)
    try:
        st = os.lstat(path)
    except OSError:
        return ""  # nothing there to lose
    name = rel.rpartition("/")[2]
    if S_ISDIR(st.st_mode):
        if os.path.lexists(os.path.join(path, "pyvenv.cfg")) and rules.excludes_venv(rel):
            return VENV
        return ""
    if S_ISLNK(st.st_mode):
        if rules.leads_to_repository(path):
            return REPOSITORY
        return EXCLUDED if rules.excluded_name(rel, name, True) else ""
    if S_ISSOCK(st.st_mode):
        return SOCKET
    if not S_ISREG(st.st_mode):
        return ""
    # A rule re-includes a database by name (asked last: the rules cost more than a look).
    if could_be_database(st.st_size) and file_is_database(path):
        return "" if rules.reincluded(rel) else DATABASE
    for suffix in DB_SIBLINGS:
        db = rel[: -len(suffix)]
        if name.endswith(suffix) and file_is_database(os.path.join(root, db)):
            return "" if rules.reincluded(db) else DB_JOURNAL
    return ""


def _excluded_now(e: Entry, rules: Rules) -> str:
    """Why the current rules exclude ``e`` ("" when they do not): the target was filtered,
    but only where its rules differ, and this costs little for the few paths of a plan."""
    name = e.path.rpartition("/")[2]
    if rules.excluded_name(e.path, name, e.kind == DIR):
        return OWN if rules.own(e.path, name) else kind_by_name(name, e.kind == DIR)
    return ""


def _stored_database(repo: Repository, e: Entry, rules: Rules) -> bool:
    """Whether the content ``e`` would be written from is a SQLite database (only the first
    bytes are looked at, and only when its size could be a database's)."""
    if not e.blob or not could_be_database(e.size):
        return False
    loc = repo.index.lookup(bytes.fromhex(e.blob))
    if loc is None:
        return False  # staging reports the missing blob
    try:
        content = repo.content(loc)
        if isinstance(content, bytes):
            head = content[: len(SQLITE_HEADER)]
        else:
            head = next(content, b"")[: len(SQLITE_HEADER)]
            content.close()  # type: ignore[attr-defined]
    except IntegrityError:
        return False  # damaged: staging refuses it, with the site untouched
    return is_database(head) and not rules.reincluded(e.path)
