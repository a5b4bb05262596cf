"""Entries as manifest rows: the encoding manifest chunks are made of (``store/manifest.py``)
and that the tree cache keeps per directory (``scan/treecache.py``), so an unchanged directory
goes into a new checkpoint as the bytes it was stored as, never decoded and encoded again.

A row is ``[path, kind, mode, uid, gid, size, mtime_ns, blob_or_target]``: ``kind`` "f" (file;
last field the content's SHA-256), "d" (directory; null) or "l" (symlink; the target). Names
that are not UTF-8 are surrogate-escaped and written as ``\\u`` escapes, so they round-trip byte
for byte. Entries in tree order (``model/entry.py``) are cut into chunks at content-defined
boundaries (after an entry whose path's CRC-32 has its low 6 bits zero, or at the end of a
directory's run once a chunk holds 4,096 entries), each chunk ``{"entries": [row, ...]}``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any

from safepoint.errors import IntegrityError
from safepoint.model.entry import FILE, SYMLINK, Entry, parent_of

BOUNDARY_MASK = 0x3F
CHUNK_MAX = 4096


def row(e: Entry) -> list[Any]:
    extra = e.blob if e.kind == FILE else e.target
    return [e.path, e.kind, e.mode, e.uid, e.gid, e.size, e.mtime_ns, extra]


def dump_json(doc: object) -> bytes:
    """Compact ASCII JSON, the form every manifest blob is written in."""
    return json.dumps(doc, separators=(",", ":")).encode("ascii")


Piece = tuple[bytes, int, bool]  # comma-separated JSON rows, how many, ends at a boundary


def encode_pieces(entries: Iterable[Entry]) -> tuple[Piece, ...]:
    """One directory's entries, in order, as pieces of encoded rows cut after each boundary
    entry: chunks are made by joining pieces, so a directory read again is encoded once."""
    pieces: list[Piece] = []
    rows: list[list[Any]] = []
    for e in entries:
        rows.append(row(e))
        if _boundary(e.path):
            pieces.append((dump_json(rows)[1:-1], len(rows), True))
            rows = []
    if rows:
        pieces.append((dump_json(rows)[1:-1], len(rows), False))
    return tuple(pieces)


def chunk_pieces(pieces: Iterable[Piece]) -> Iterator[tuple[bytes, int]]:
    """(chunk blob, entry count) from the pieces of the directories in tree order."""
    frags: list[bytes] = []
    count = 0
    for frag, n, cut in pieces:
        frags.append(frag)
        count += n
        if cut or count >= CHUNK_MAX:
            yield b'{"entries":[' + b",".join(frags) + b"]}", count
            frags, count = [], 0
    if frags:
        yield b'{"entries":[' + b",".join(frags) + b"]}", count


def _boundary(path: str) -> bool:
    return zlib.crc32(path.encode("utf-8", "surrogateescape")) & BOUNDARY_MASK == 0


def encode_chunks(entries: Iterable[Entry]) -> Iterator[tuple[bytes, int]]:
    """The chunk blobs (and their entry counts) of an entry list in tree order."""
    by_dir = groupby(entries, key=lambda e: parent_of(e.path))
    return chunk_pieces(piece for _, run in by_dir for piece in encode_pieces(run))


def decode_rows(doc: dict[str, Any]) -> list[Entry]:
    """The entries of a chunk (``{"entries": [row, ...]}``)."""
    try:
        return [
            Entry(
                path,
                kind,
                mode,
                uid,
                gid,
                size,
                mtime_ns,
                extra if kind == SYMLINK else None,
                extra if kind == FILE else None,
            )
            for path, kind, mode, uid, gid, size, mtime_ns, extra in doc["entries"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"damaged manifest: {exc}") from None
