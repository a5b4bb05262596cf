"""The stat cache: for each file, the (size, mtime_ns, ctime_ns, inode) it had when its content
was last hashed, and that hash. A file whose stat still matches is not read again.

On disk: ``<repository>/statcache``, zstd-compressed JSON lines: a header
``{"version": 2, "taken_ns": N}``, then batches ``[[path, size, mtime_ns, ctime_ns, ino,
sha256], ...]`` in path order, replaced atomically. It is read as a stream and matched against
the scan's sorted entries (a merge, not a dictionary), so its memory does not grow with the tree.

``taken_ns`` is when the scan behind it started: an entry whose mtime is not clearly older than
that is "racy" (the file may have changed again within the same timestamp tick) and is hashed
again next time, as git does with its index. It is a cache only: missing or damaged, files are
hashed again.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import zstandard

from safepoint.scan.entry import FILE, Entry
from safepoint.store.atomic import atomic_file

CACHE_VERSION = 2
RACY_MARGIN_NS = 100_000_000  # generous: coarse filesystem timestamp granularity
BATCH = 2048


def cached_hashes(
    path: Path, entries: Sequence[Entry], *, stored_only: bool = False
) -> Iterator[tuple[int, str]]:
    """(index, sha256) of each file in ``entries`` (sorted by path) whose stat matches the cache
    and is not racy. ``stored_only``: nothing unless every hash in the cache was stored in the
    repository when the cache was written (caches written by status are not)."""
    try:
        with path.open("rb") as raw:
            lines = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))  # type: ignore[arg-type]
            header = json.loads(lines.readline())
            if header.get("version") != CACHE_VERSION:
                return
            if stored_only and not header.get("stored"):
                return
            racy_from = header["taken_ns"] - RACY_MARGIN_NS
            rows = _rows(lines)
            row = next(rows, None)
            for i, e in enumerate(entries):
                if e.kind != FILE:
                    continue
                while row is not None and row[0] < e.path:
                    row = next(rows, None)
                if row is None:
                    return
                if (
                    row[0] == e.path
                    and row[1:5] == [e.size, e.mtime_ns, e.ctime_ns, e.ino]
                    and row[2] < racy_from
                ):
                    yield i, row[5]
    except (OSError, ValueError, KeyError, TypeError, zstandard.ZstdError):
        return  # a cache is only a cache


def _rows(lines: Iterable[bytes]) -> Iterator[list[Any]]:
    for line in lines:
        yield from json.loads(line)


def save_cache(path: Path, entries: Iterable[Entry], taken_ns: int, *, stored: bool) -> None:
    """Replace the cache with ``entries`` (files with a blob, sorted by path), as hashed by a
    scan that started at ``taken_ns``; ``stored`` says every blob is in the repository."""
    header = {"version": CACHE_VERSION, "taken_ns": taken_ns, "stored": stored}
    with (
        atomic_file(path) as f,
        zstandard.ZstdCompressor(level=1).stream_writer(f, closefd=False) as out,
    ):
        out.write(json.dumps(header).encode() + b"\n")
        files = [e for e in entries if e.kind == FILE and e.blob]
        for start in range(0, len(files), BATCH):
            out.write(_line(list(map(_ROW, files[start : start + BATCH]))))


_ROW = itemgetter(0, 5, 6, 9, 10, 8)  # path, size, mtime_ns, ctime_ns, ino, blob (see Entry)


def _line(batch: list[Any]) -> bytes:
    return json.dumps(batch, separators=(",", ":")).encode("ascii") + b"\n"
