"""Reachability: the blobs a checkpoint needs. The one place that says what a record refers
to, so that ``gc`` (what to keep), ``check`` (what must exist) and ``repair`` (what is lost)
agree; a new kind of stored data (a database snapshot named in a record's ``extra``) is added
here and all three follow.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from safepoint.model.entry import FILE
from safepoint.store.manifest import chunk_ids, decode_chunk, decode_manifest
from safepoint.store.records import Checkpoint

if TYPE_CHECKING:
    from safepoint.store.repository import Repository

ChunkCache = dict[bytes, frozenset[bytes]]  # manifest chunk -> the file blobs it names


def blobs_of(repo: Repository, cp: Checkpoint, *, chunks: ChunkCache | None = None) -> set[bytes]:
    """Every blob ``cp`` needs: its manifest's top blob and chunks, and each file's content.
    Reads the manifest (IntegrityError when it is missing or damaged: then what the checkpoint
    needs beyond its top blob cannot be known). ``chunks``, shared between calls, saves
    decoding again the chunks that checkpoints share (most of them)."""
    cache: ChunkCache = {} if chunks is None else chunks
    top_id = bytes.fromhex(cp.manifest)
    top = repo.read_blob(top_id)
    out = {top_id}
    listed = chunk_ids(top)
    if listed is None:  # versions 1 and 2: decoded whole
        entries = decode_manifest(top, repo.read_blob)
        out.update(bytes.fromhex(c) for c in _v2_chunks(top))
        out.update(bytes.fromhex(e.blob) for e in entries if e.kind == FILE and e.blob)
        return out
    for chunk in listed[0]:
        chunk_id = bytes.fromhex(chunk)
        out.add(chunk_id)
        files = cache.get(chunk_id)
        if files is None:
            entries = decode_chunk(repo.read_blob(chunk_id))
            files = cache[chunk_id] = frozenset(
                bytes.fromhex(e.blob) for e in entries if e.kind == FILE and e.blob
            )
        out |= files
    return out


def _v2_chunks(top: bytes) -> list[str]:
    chunks = json.loads(top).get("chunks", [])
    return [c for c in chunks if isinstance(c, str)]
