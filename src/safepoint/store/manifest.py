"""Manifests: the entries of one checkpoint, in tree order, stored as blobs.

Tree order (``order_key``) groups a directory's children together, by name, and puts the groups
in depth-first order: ``a``, ``b``, ``a/x``, ``a/y``, ``a/x/...`` sort as
``("", "a") < ("", "b") < ("a", "x") < ("a", "y") < ("a\\0x", ...)``. Every directory comes
before what it holds, and one directory's entries are one contiguous run, so a checkpoint can
reuse a directory's encoded rows unchanged (see ``scan/treecache.py``).

Version 3 splits the entries into chunks at content-defined boundaries (after an entry whose
path's CRC-32 has its low 6 bits zero, or at the end of a directory's run once a chunk holds
4,096 entries), each chunk its own blob::

    top blob    {"version": 3, "count": N, "chunks": ["<blob id>", ...]}
    chunk blob  {"entries": [[path, kind, mode, uid, gid, size, mtime_ns, blob_or_target], ...]}

A boundary depends only on the path where it falls, so an edit changes only the chunks holding
the edited paths: ten checkpoints of a 20,000-file site that differ in a few files
share almost all their manifest data. (Versions 1 and 2, sorted by path, are still read and put
in tree order.) Entries: ``kind`` "f" (file; last field the content's SHA-256), "d" (directory;
null) or "l" (symlink; the target). Names that are not UTF-8 are surrogate-escaped and written
as ``\\u`` escapes, so they round-trip byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby
from typing import Any

from safepoint.errors import IntegrityError
from safepoint.scan.entry import FILE, SYMLINK, Entry

MANIFEST_VERSION = 3
BOUNDARY_MASK = 0x3F
CHUNK_MAX = 4096


def order_key(path: str) -> tuple[str, str]:
    """Tree order: (parent with NUL for '/', name). NUL sorts before every character a name can
    hold, so a directory's subdirectories follow it directly (depth first)."""
    parent, _, name = path.rpartition("/")
    return parent.replace("/", "\0"), name


def parent_of(path: str) -> str:
    return path.rpartition("/")[0]


def row(e: Entry) -> list[Any]:
    extra = e.blob if e.kind == FILE else e.target
    return [e.path, e.kind, e.mode, e.uid, e.gid, e.size, e.mtime_ns, extra]


def _dump(doc: object) -> bytes:
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
            pieces.append((_dump(rows)[1:-1], len(rows), True))
            rows = []
    if rows:
        pieces.append((_dump(rows)[1:-1], len(rows), False))
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


def encode_top(chunk_ids: Sequence[str], count: int) -> bytes:
    return _dump({"version": MANIFEST_VERSION, "count": count, "chunks": list(chunk_ids)})


def manifest_id(entries: Sequence[Entry]) -> str:
    """The id the manifest of ``entries`` has once stored (without storing it)."""
    ids = [hashlib.sha256(chunk).hexdigest() for chunk, _ in encode_chunks(entries)]
    return hashlib.sha256(encode_top(ids, len(entries))).hexdigest()


def decode_manifest(top: bytes, read_blob: Callable[[bytes], bytes]) -> list[Entry]:
    """The entries of a manifest in tree order; ``read_blob`` fetches (hash-checked) chunks."""
    doc = _load(top)
    version = doc.get("version")
    if version == 1:
        return sorted(decode_rows(doc), key=lambda e: order_key(e.path))
    if version not in (2, MANIFEST_VERSION):
        raise IntegrityError(f"manifest of unknown version {version!r}")
    out: list[Entry] = []
    try:
        for chunk_id in doc["chunks"]:
            out.extend(decode_chunk(read_blob(bytes.fromhex(chunk_id))))
        if len(out) != doc["count"]:
            raise IntegrityError(f"manifest lists {doc['count']} entries, its chunks {len(out)}")
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"damaged manifest: {exc}") from None
    if version == 2:
        out.sort(key=lambda e: order_key(e.path))
    return out


def chunk_ids(top: bytes) -> tuple[list[str], int] | None:
    """The chunk ids and entry count of a version 3 manifest (None for older versions, whose
    chunks are not in tree order)."""
    doc = _load(top)
    if doc.get("version") != MANIFEST_VERSION:
        return None
    chunks, count = doc.get("chunks"), doc.get("count")
    if not isinstance(chunks, list) or not isinstance(count, int):
        raise IntegrityError("damaged manifest: no chunk list")
    return chunks, count


def decode_chunk(data: bytes) -> list[Entry]:
    return decode_rows(_load(data))


def _load(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise IntegrityError(f"damaged manifest: {exc}") from None
    if not isinstance(doc, dict):
        raise IntegrityError("damaged manifest: not an object")
    return doc


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
