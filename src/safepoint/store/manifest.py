"""Manifests: the entries of one checkpoint, in tree order, stored as blobs.

The entries are in tree order (``model/entry.py``) and encoded as rows (``model/rows.py``, shared
with the tree cache, which keeps each directory's rows as they are stored).

Version 3 (the only one ever written) splits the entries into chunks at content-defined
boundaries (after an entry whose path's CRC-32 has its low 6 bits zero, or at the end of a
directory's run once a chunk holds 4,096 entries), each chunk its own blob::

    top blob    {"version": 3, "count": N, "chunks": ["<blob id>", ...]}
    chunk blob  {"entries": [[path, kind, mode, uid, gid, size, mtime_ns, blob_or_target], ...]}

A boundary depends only on the path where it falls, so an edit changes only the chunks holding
the edited paths: ten checkpoints of a 20,000-file site that differ in a few files
share almost all their manifest data. A manifest of another version is refused
(IntegrityError). Rows: see ``model/rows.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from safepoint.errors import IntegrityError
from safepoint.model.entry import Entry
from safepoint.model.rows import decode_rows, dump_json, encode_chunks

MANIFEST_VERSION = 3


def encode_top(chunk_ids: Sequence[str], count: int) -> bytes:
    return dump_json({"version": MANIFEST_VERSION, "count": count, "chunks": list(chunk_ids)})


def manifest_id(entries: Sequence[Entry]) -> str:
    """The id the manifest of ``entries`` has once stored (without storing it)."""
    ids = [hashlib.sha256(chunk).hexdigest() for chunk, _ in encode_chunks(entries)]
    return hashlib.sha256(encode_top(ids, len(entries))).hexdigest()


def decode_manifest(top: bytes, read_blob: Callable[[bytes], bytes]) -> list[Entry]:
    """The entries of a manifest in tree order; ``read_blob`` fetches (hash-checked) chunks."""
    chunks, count = chunk_ids(top)
    out: list[Entry] = []
    try:
        for chunk_id in chunks:
            out.extend(decode_chunk(read_blob(bytes.fromhex(chunk_id))))
    except (TypeError, ValueError) as exc:
        raise IntegrityError(f"damaged manifest: {exc}") from None
    if len(out) != count:
        raise IntegrityError(f"manifest lists {count} entries, its chunks {len(out)}")
    return out


def chunk_ids(top: bytes) -> tuple[list[str], int]:
    """The chunk ids and entry count of a manifest; IntegrityError for a manifest of another
    version (never written: see the module docstring) or a damaged one."""
    doc = _load(top)
    version = doc.get("version")
    if version != MANIFEST_VERSION:
        raise IntegrityError(f"manifest of unknown version {version!r}")
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

