"""Reachability: the blobs a checkpoint needs. The one place that says what a record refers
to, so that ``gc`` (what to keep), ``check`` (what must exist) and ``repair`` (what is lost)
agree: the manifest and its files, and a database snapshot named in the record's ``extra``
(``snapshots.snapshot_blobs``). A new kind of stored data is added here and all three follow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from safepoint.model.entry import FILE
from safepoint.store.manifest import chunk_ids, decode_chunk
from safepoint.store.records import Checkpoint
from safepoint.store.snapshots import snapshot_blobs

if TYPE_CHECKING:
    from safepoint.store.repository import Repository

ChunkCache = dict[bytes, frozenset[bytes]]  # manifest chunk -> the file blobs it names


def blobs_of(repo: Repository, cp: Checkpoint, *, chunks: ChunkCache | None = None) -> set[bytes]:
    """Every blob ``cp`` needs: its manifest's top blob and chunks, each file's content, and its
    database snapshot's blobs.
    Reads the manifest (IntegrityError when it is missing or damaged: then what the checkpoint
    needs beyond its top blob cannot be known). ``chunks``, shared between calls, saves
    decoding again the chunks that checkpoints share (most of them)."""
    cache: ChunkCache = {} if chunks is None else chunks
    top_id = bytes.fromhex(cp.manifest)
    top = repo.read_blob(top_id)
    out = {top_id}
    out.update(snapshot_blobs(repo, cp))  # a database snapshot taken with it
    for chunk in chunk_ids(top)[0]:
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

