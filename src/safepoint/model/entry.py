"""The entry: one path of a tree as a checkpoint records it, and tree order.

Tree order (``order_key``) groups a directory's children together, by name, and puts the groups
in depth-first order: ``a``, ``b``, ``a/x``, ``a/y``, ``a/x/...`` sort as
``("", "a") < ("", "b") < ("a", "x") < ("a", "y") < ("a\\0x", ...)``. Every directory comes
before what it holds, and one directory's entries are one contiguous run, so a checkpoint can
reuse a directory's encoded rows unchanged (``model/rows.py``, ``scan/treecache.py``).
"""

from __future__ import annotations

import os
from typing import NamedTuple

FILE, DIR, SYMLINK = "f", "d", "l"
# Owners count as part of a tree's state only for root: no one else can restore them, so an
# unprivileged comparison that saw them would report changes a rollback can never undo.
IS_ROOT = os.geteuid() == 0


class Entry(NamedTuple):
    """A tuple rather than a dataclass: a scan builds one per path, hundreds of thousands on a
    large tree, and tuples are several times cheaper to make.

    ``path`` is relative to the root, '/'-separated; a name that is not UTF-8 is kept with
    surrogate escapes (``os.fsdecode``) so it round-trips byte for byte. ``blob`` is the SHA-256 of
    a file's content (hex), ``target`` a symlink's target. ``ctime_ns`` and ``ino`` serve only the
    tree cache and are not stored in manifests."""

    path: str
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    target: str | None = None
    blob: str | None = None
    ctime_ns: int = 0
    ino: int = 0

    def with_blob(self, blob: str) -> Entry:
        path, kind, mode, uid, gid, size, mtime_ns, target, _, ctime_ns, ino = self
        return Entry(path, kind, mode, uid, gid, size, mtime_ns, target, blob, ctime_ns, ino)

    def same_content(self, other: Entry) -> bool:
        """Same kind and content (blob or link target); metadata may differ."""
        return (
            self.kind == other.kind
            and self.blob == other.blob
            and self.target == other.target
            and (self.kind != FILE or self.size == other.size)
        )

    def same_meta(self, other: Entry, *, owner: bool) -> bool:
        if self.mode != other.mode:
            return False
        if owner and (self.uid, self.gid) != (other.uid, other.gid):
            return False
        # Directory mtimes change whenever a child does; only files and links are compared.
        return self.kind == DIR or self.mtime_ns == other.mtime_ns


def order_key(path: str) -> tuple[str, str]:
    """Tree order: (parent with NUL for '/', name). NUL sorts before every character a name can
    hold, so a directory's subdirectories follow it directly (depth first)."""
    parent, _, name = path.rpartition("/")
    return parent.replace("/", "\0"), name


def parent_of(path: str) -> str:
    return path.rpartition("/")[0]
