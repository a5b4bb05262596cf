"""The stat cache: for each path, the (size, mtime_ns, ctime_ns, inode) it had when its content
was last hashed, and that hash. A file whose stat still matches is not read again.

On disk: ``<repository>/statcache``, zstd-compressed JSON
``{"version": 1, "taken_ns": N, "entries": {path: [size, mtime_ns, ctime_ns, ino, sha256]}}``,
replaced atomically. ``taken_ns`` is when the scan behind it started: an entry whose mtime is not
clearly older than that is "racy" (the file may have changed again within the same timestamp
tick) and is hashed again next time, as git does with its index.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import zstandard

from safepoint.scan.entry import FILE, Entry
from safepoint.store.atomic import write_atomic

RACY_MARGIN_NS = 100_000_000  # generous: coarse filesystem timestamp granularity


class StatCache:
    def __init__(self, entries: dict[str, list[int | str]] | None = None, taken_ns: int = 0):
        self._entries = entries or {}
        self._taken_ns = taken_ns

    @classmethod
    def load(cls, path: Path) -> StatCache:
        try:
            raw = zstandard.ZstdDecompressor().decompress(path.read_bytes())
            data = json.loads(raw)
            if data.get("version") != 1:
                return cls()
            return cls(data["entries"], data["taken_ns"])
        except (OSError, ValueError, KeyError, zstandard.ZstdError):
            return cls()  # a cache is only a cache: a missing or damaged one means re-hashing

    def lookup(self, entry: Entry) -> str | None:
        """The known SHA-256 of ``entry`` if its stat is unchanged and not racy."""
        row = self._entries.get(entry.path)
        if row is None or entry.kind != FILE:
            return None
        size, mtime_ns, ctime_ns, ino, blob = row
        if (size, mtime_ns, ctime_ns, ino) != (
            entry.size,
            entry.mtime_ns,
            entry.ctime_ns,
            entry.ino,
        ):
            return None
        if mtime_ns >= self._taken_ns - RACY_MARGIN_NS:
            return None
        return str(blob)

    @staticmethod
    def save(path: Path, entries: Iterable[Entry], taken_ns: int) -> None:
        """Replace the cache with ``entries`` (files with a blob), as hashed by a scan that
        started at ``taken_ns``."""
        table = {
            e.path: [e.size, e.mtime_ns, e.ctime_ns, e.ino, e.blob]
            for e in entries
            if e.kind == FILE and e.blob
        }
        doc = json.dumps(
            {"version": 1, "taken_ns": taken_ns, "entries": table}, separators=(",", ":")
        ).encode()
        write_atomic(path, zstandard.ZstdCompressor(level=1).compress(doc))
