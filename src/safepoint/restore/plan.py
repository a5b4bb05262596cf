"""Comparing two trees, and turning the difference into a plan that brings one to the other.

``compare`` serves ``status`` and ``diff``; ``plan_rollback`` adds what applying needs: which
entries to remove (deepest first), create, rewrite or only re-stamp, and which directories hold
files the rules exclude (those are never touched, so such a directory cannot be replaced).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from safepoint.errors import OperationalError
from safepoint.model.entry import DIR, FILE, SYMLINK, Entry, order_key
from safepoint.scan.rules import Rules


@dataclass(frozen=True)
class Changes:
    """From tree A to tree B: paths only in B, changed in content or type, only in A, and with
    the same content but another mode or owner. ``touched``: only the mtime differs."""

    added: list[Entry] = field(default_factory=list)  # B's entries
    modified: list[tuple[Entry, Entry]] = field(default_factory=list)  # (A's, B's)
    deleted: list[Entry] = field(default_factory=list)  # A's entries
    mode_changed: list[tuple[Entry, Entry]] = field(default_factory=list)
    touched: list[tuple[Entry, Entry]] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.modified or self.deleted or self.mode_changed)

    def to_json(self) -> dict[str, list[str]]:
        return {
            "added": [e.path for e in self.added],
            "modified": [b.path for _, b in self.modified],
            "deleted": [e.path for e in self.deleted],
            "mode_changed": [b.path for _, b in self.mode_changed],
            "touched": [b.path for _, b in self.touched],
        }


def pair_up(a: Sequence[Entry], b: Sequence[Entry]) -> Iterator[tuple[Entry | None, Entry | None]]:
    """The entries of two trees in tree order side by side, (a's, b's), None where a path is
    only in one: a merge, so comparing two 200,000-entry trees needs no dictionary. Scans and
    manifests are in tree order (``model/entry.py`` ``order_key``)."""
    i = j = 0
    while i < len(a) and j < len(b):
        x, y = a[i], b[j]
        if x.path == y.path:
            yield x, y
            i += 1
            j += 1
        elif order_key(x.path) < order_key(y.path):
            yield x, None
            i += 1
        else:
            yield None, y
            j += 1
    for x in a[i:]:
        yield x, None
    for y in b[j:]:
        yield None, y


def compare(a: Sequence[Entry], b: Sequence[Entry], *, owner: bool) -> Changes:
    added: list[Entry] = []
    modified: list[tuple[Entry, Entry]] = []
    deleted: list[Entry] = []
    mode_changed: list[tuple[Entry, Entry]] = []
    touched: list[tuple[Entry, Entry]] = []
    unchanged = 0
    for cur, new in pair_up(a, b):
        if new is None:
            deleted.append(cur)  # type: ignore[arg-type]
        elif cur is None:
            added.append(new)
        elif not cur.same_content(new):
            modified.append((cur, new))
        elif cur.mode != new.mode or (owner and (cur.uid, cur.gid) != (new.uid, new.gid)):
            mode_changed.append((cur, new))
        elif not cur.same_meta(new, owner=owner):
            touched.append((cur, new))
        else:
            unchanged += 1
    return Changes(added, modified, deleted, mode_changed, touched, unchanged)


@dataclass(frozen=True)
class Plan:
    """What applying does, in order: ``remove`` (deepest first), ``mkdir``, ``write`` (file
    content), ``link``, ``restamp`` (mode/owner/mtime only), then ``dir_meta`` (deepest first)."""

    remove: list[Entry]
    mkdir: list[Entry]
    write: list[Entry]
    link: list[Entry]
    restamp: list[Entry]
    dir_meta: list[Entry]
    unchanged: int
    keep_dirs: list[str] = field(default_factory=list)  # removed dirs that hold excluded files
    spared: list[tuple[str, str]] = field(default_factory=list)  # (path, why) left alone
    # The current files whose content the plan overwrites or deletes: what an undo needs back.
    replaced: list[Entry] = field(default_factory=list)
    # Directories whose mode or owner changes (their new metadata is set in ``dir_meta``).
    restamp_dirs: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        # dir_meta counts: a directory whose mode alone differs (or one a killed switch made
        # 0700 and never gave its mode) is a change to make, not "nothing to do".
        steps = (self.remove, self.mkdir, self.write, self.link, self.restamp, self.dir_meta)
        return not any(steps)

    @property
    def write_bytes(self) -> int:
        return sum(e.size for e in self.write)

    def steps(self) -> dict[str, list[str]]:
        """The paths of each step, as a user is shown them before confirming."""
        return {
            "write": [e.path for e in self.write + self.link],
            "remove": [e.path for e in self.remove],
            "mkdir": [e.path for e in self.mkdir],
            "restamp": [e.path for e in self.restamp] + self.restamp_dirs,
        }


def filter_target(
    target: Sequence[Entry], rules: Rules, *, made_with: str | None = None
) -> list[Entry]:
    """The target's entries that the current rules still track: an excluded path is never
    written, whatever an older checkpoint holds (a link is excluded as a directory too, as the
    walk does). ``made_with``: the fingerprint of the rules the target was recorded under
    (nothing to filter when they are the current ones)."""
    if made_with == rules.fingerprint:
        return list(target)
    out: list[Entry] = []
    dropped: list[str] = []
    for e in target:
        if any(e.path.startswith(d + "/") for d in dropped):
            continue
        if rules.excluded(e.path, is_dir=e.kind == DIR) or (
            e.kind == SYMLINK and rules.excluded(e.path, is_dir=True)
        ):
            if e.kind == DIR:
                dropped.append(e.path)
            continue
        out.append(e)
    return out


def plan_rollback(
    root: Path,
    current: Sequence[Entry],
    target: Sequence[Entry],
    *,
    owner: bool,
    shared: int = 0,
    same_dir: Callable[[str], Entry | None] | None = None,
) -> Plan:
    """The plan from ``current`` (tracked entries on disk, with blobs) to ``target``.

    Both may leave out entries that are the same on both sides (``shared`` of them): then
    ``same_dir`` looks up such a directory, whose mtime is restored after its children change.

    Raises OperationalError, before anything is changed, when a directory that must become
    something else holds files the rules exclude (they are never deleted)."""
    ch = compare(current, target, owner=owner)
    retyped = [(a, b) for a, b in ch.modified if a.kind != b.kind]
    remove = ch.deleted + [a for a, _ in retyped]
    create = ch.added + [b for _, b in retyped]
    remove.sort(key=lambda e: e.path, reverse=True)  # children before their directory
    create.sort(key=lambda e: e.path)  # parents before children

    replaced_by = {a.path: b for a, b in retyped}
    removed_dirs = [e for e in remove if e.kind == DIR]
    tracked = {e.path for e in current} if removed_dirs else set()
    keep: set[str] = set()  # removed directories that must stay: they hold untracked files
    for e in removed_dirs:  # deepest first, so a child's verdict is known before its parent's
        if _holds_untracked(root, e.path, tracked, keep):
            if e.path in replaced_by:
                kind = "symlink" if replaced_by[e.path].kind != FILE else "file"
                raise OperationalError(
                    f"cannot replace directory {e.path} with a {kind}: it holds files that "
                    "safepoint does not track (excluded); move them away first"
                )
            keep.add(e.path)
    rewrite = [b for a, b in ch.modified if a.kind == b.kind]
    restamp = [b for _, b in ch.mode_changed + ch.touched if b.kind != DIR]
    changed_dirs = {b.path for _, b in ch.mode_changed if b.kind == DIR}
    changed_dirs |= {e.path for e in create if e.kind == DIR}
    for path in [e.path for e in remove] + [e.path for e in create] + [e.path for e in rewrite]:
        changed_dirs.add(path.rpartition("/")[0])  # the parent's mtime changed too
    target_dirs = {e.path: e for e in target if e.kind == DIR}
    if same_dir is not None:
        listed = {e.path for e in current} | target_dirs.keys()
        for path in changed_dirs - listed:
            if (same := same_dir(path)) is not None:
                target_dirs[path] = same
    dir_meta = sorted(
        (target_dirs[p] for p in changed_dirs if p in target_dirs),
        key=lambda e: e.path,
        reverse=True,
    )
    return Plan(
        remove=remove,
        mkdir=[e for e in create if e.kind == DIR],
        write=[e for e in create + rewrite if e.kind == FILE],
        link=[e for e in create + rewrite if e.kind not in (DIR, FILE)],
        restamp=restamp,
        dir_meta=dir_meta,
        unchanged=ch.unchanged + shared,
        keep_dirs=sorted(keep),
        replaced=[a for a, _ in ch.modified if a.kind == FILE]
        + [e for e in ch.deleted if e.kind == FILE],
        restamp_dirs=sorted(b.path for _, b in ch.mode_changed if b.kind == DIR),
    )


def _holds_untracked(root: Path, rel: str, tracked: set[str], keep: set[str]) -> bool:
    try:
        names = os.listdir(os.path.join(root, rel))
    except OSError:
        return False
    return any(f"{rel}/{n}" not in tracked or f"{rel}/{n}" in keep for n in names)
