"""The entry: one path of a tree as a checkpoint records it."""

from __future__ import annotations

from typing import NamedTuple

FILE, DIR, SYMLINK = "f", "d", "l"


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
