"""Walking the tree: ``os.scandir``, never following symlinks, pruning excluded directories so
that an excluded virtual environment costs one ``stat``, not thousands."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from stat import S_ISDIR, S_ISLNK, S_ISREG

from safepoint.errors import OperationalError
from safepoint.scan.entry import DIR, FILE, SYMLINK, Entry
from safepoint.scan.rules import Rules


@dataclass
class ScanResult:
    entries: list[Entry]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def scan_tree(root: Path, rules: Rules) -> ScanResult:
    """All entries under ``root`` that the rules keep, sorted by path. Special files (fifos,
    sockets, devices) are skipped and reported in ``skipped``."""
    root_s = os.fspath(root)
    entries: list[Entry] = []
    skipped: list[tuple[str, str]] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        abs_dir = os.path.join(root_s, rel_dir) if rel_dir else root_s
        try:
            with os.scandir(abs_dir) as it:
                children = list(it)
        except OSError as exc:
            raise OperationalError(f"cannot read directory {abs_dir}: {exc.strerror}") from None
        excluded = rules.excluded_name
        for de in children:
            name = de.name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                st = de.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we looked: it is not part of the tree
            mode = st.st_mode
            if S_ISDIR(mode):
                if excluded(rel, name, True):
                    continue
                if os.path.lexists(os.path.join(de.path, "pyvenv.cfg")) and rules.excludes_venv(
                    rel
                ):
                    continue
                entries.append(_entry(rel, DIR, st))
                stack.append(rel)
            elif excluded(rel, name, False):
                continue
            elif S_ISREG(mode):
                # Built inline, positionally: this line runs once per file of the site.
                entries.append(
                    Entry(
                        rel,
                        FILE,
                        mode & 0o7777,
                        st.st_uid,
                        st.st_gid,
                        st.st_size,
                        st.st_mtime_ns,
                        None,
                        None,
                        st.st_ctime_ns,
                        st.st_ino,
                    )
                )
            elif S_ISLNK(mode):
                entries.append(_entry(rel, SYMLINK, st, target=os.readlink(de.path)))
            else:
                skipped.append((rel, "special file (fifo, socket or device)"))
    entries.sort(key=itemgetter(0))  # by path
    return ScanResult(entries, skipped)


def stat_entry(root: Path, rel: str) -> Entry | None:
    """The entry for one path as it is on disk now (None when absent or special)."""
    path = os.path.join(os.fspath(root), rel)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return _entry(rel, DIR, st)
    if stat.S_ISREG(st.st_mode):
        return _entry(rel, FILE, st)
    if stat.S_ISLNK(st.st_mode):
        return _entry(rel, SYMLINK, st, target=os.readlink(path))
    return None


def _entry(rel: str, kind: str, st: os.stat_result, *, target: str | None = None) -> Entry:
    return Entry(
        path=rel,
        kind=kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        size=st.st_size if kind == FILE else 0,
        mtime_ns=st.st_mtime_ns,
        target=target,
        ctime_ns=st.st_ctime_ns,
        ino=st.st_ino,
    )
