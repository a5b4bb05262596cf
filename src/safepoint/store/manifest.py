"""Manifests: the sorted entries of one checkpoint, stored as blobs.

Version 2 splits the entry list into chunks at content-defined boundaries (after an entry whose
path's CRC-32 has its low 6 bits zero, or after 4,096 entries), each chunk its own blob::

    top blob    {"version": 2, "count": N, "chunks": ["<blob id>", ...]}
    chunk blob  {"entries": [[path, kind, mode, uid, gid, size, mtime_ns, blob_or_target], ...]}

A boundary depends only on the path where it falls, so an edit changes only the chunks holding
the edited paths: ten checkpoints of a 20,000-file site that differ in a few files share almost
all their manifest data. (Version 1, one blob ``{"version": 1, "entries": [...]}``, is still
read.) Entries: ``kind`` "f" (file; last field the content's SHA-256), "d" (directory; null)
or "l" (symlink; the target). Names that are not UTF-8 are surrogate-escaped and written as
``\\u`` escapes, so they round-trip byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from safepoint.errors import IntegrityError
from safepoint.scan.entry import FILE, SYMLINK, Entry

MANIFEST_VERSION = 2
BOUNDARY_MASK = 0x3F
CHUNK_MAX = 4096


def _row(e: Entry) -> list[Any]:
    extra = e.blob if e.kind == FILE else e.target
    return [e.path, e.kind, e.mode, e.uid, e.gid, e.size, e.mtime_ns, extra]


def _dump(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode("ascii")


def encode_chunks(entries: Iterable[Entry]) -> Iterator[bytes]:
    """The encoded chunk blobs of a sorted entry list."""
    rows: list[list[Any]] = []
    for e in entries:
        rows.append(_row(e))
        key = e.path.encode("utf-8", "surrogateescape")
        if len(rows) >= CHUNK_MAX or zlib.crc32(key) & BOUNDARY_MASK == 0:
            yield _dump({"entries": rows})
            rows = []
    if rows:
        yield _dump({"entries": rows})


def encode_top(chunk_ids: Sequence[str], count: int) -> bytes:
    return _dump({"version": MANIFEST_VERSION, "count": count, "chunks": list(chunk_ids)})


def manifest_id(entries: Sequence[Entry]) -> str:
    """The id the manifest of ``entries`` has once stored (without storing it)."""
    ids = [hashlib.sha256(chunk).hexdigest() for chunk in encode_chunks(entries)]
    return hashlib.sha256(encode_top(ids, len(entries))).hexdigest()


def decode_manifest(top: bytes, read_blob: Callable[[bytes], bytes]) -> list[Entry]:
    """The entries of a manifest; ``read_blob`` fetches (hash-checked) chunk blobs."""
    doc = _load(top)
    version = doc.get("version")
    if version == 1:
        return _entries(doc)
    if version != MANIFEST_VERSION:
        raise IntegrityError(f"manifest of unknown version {version!r}")
    out: list[Entry] = []
    try:
        for chunk_id in doc["chunks"]:
            out.extend(_entries(_load(read_blob(bytes.fromhex(chunk_id)))))
        if len(out) != doc["count"]:
            raise IntegrityError(f"manifest lists {doc['count']} entries, its chunks {len(out)}")
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"damaged manifest: {exc}") from None
    return out


def _load(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise IntegrityError(f"damaged manifest: {exc}") from None
    if not isinstance(doc, dict):
        raise IntegrityError("damaged manifest: not an object")
    return doc


def _entries(doc: dict[str, Any]) -> list[Entry]:
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
