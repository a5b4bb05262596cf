"""Write transactions: blobs added (deduplicated against what is soundly stored), then
committed (packs durable, index updated) or aborted (nothing kept)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import zstandard

from safepoint.model.blobs import FileChangedError
from safepoint.model.entry import Entry, order_key
from safepoint.model.rows import encode_chunks
from safepoint.store.manifest import encode_top
from safepoint.store.pack import ZSTD, PackWriter

if TYPE_CHECKING:
    from safepoint.store.repository import Repository

COMPRESSION_LEVEL = 3
CHUNK_GROUP = 64  # manifest chunks looked up together (they are held in memory until then)


def blob_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class BlobWriter:
    """A write transaction: ``add`` blobs (deduplicated), then ``commit`` (packs durable, index
    updated) or ``abort``. Thread-safe."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo
        self._packs = PackWriter(repo.packs_dir)
        self._pending: set[bytes] = set()
        self._lock = threading.Lock()

    @property
    def stored_bytes(self) -> int:
        return self._packs.stored_bytes

    def known(self, blob_id: bytes) -> bool:
        """Stored in this transaction, or in a pack that exists with a sound record header
        (a blob whose pack is gone or damaged there is stored again: dedup never trusts the
        index alone)."""
        with self._lock:
            if blob_id in self._pending:
                return True
        loc = self._repo.index.lookup(blob_id)
        return loc is not None and self._repo.stored_soundly(loc)

    def add(self, blob_id: bytes, data: bytes, *, force: bool = False) -> bool:
        """Store ``data`` under ``blob_id`` unless already stored (``force``: store it even
        so, when the stored copy is known to be damaged); True if it was written."""
        if not force and self.known(blob_id):
            return False
        return self._store(blob_id, data)

    def add_many(self, blobs: list[tuple[bytes, bytes]]) -> None:
        """``add`` for a group: one index query for all of them."""
        ids = {blob_id for blob_id, _ in blobs}
        with self._lock:
            ids -= self._pending
        found = self._repo.index.lookup_many(ids) if ids else {}
        stored = {b for b, loc in found.items() if self._repo.stored_soundly(loc)}
        for blob_id, data in blobs:
            if blob_id in ids and blob_id not in stored:
                self._store(blob_id, data)

    def _store(self, blob_id: bytes, data: bytes) -> bool:
        codec, stored = self._repo.compress(data)
        with self._lock:
            if blob_id in self._pending:
                return False
            self._pending.add(blob_id)
        self._packs.add(blob_id, len(data), codec, stored)
        return True

    def add_file(
        self, blob_id: bytes, raw_size: int, chunks: Iterable[bytes], *, force: bool = False
    ) -> bool:
        """Store a large file from its ``chunks`` (read again from disk) unless the blob is
        known (see ``add`` for ``force``); they must hash to ``blob_id`` (FileChangedError
        otherwise, nothing kept)."""
        if not force and self.known(blob_id):
            return False
        with self._lock:
            if blob_id in self._pending:
                return False
            self._pending.add(blob_id)
        try:
            self._packs.add_stream(blob_id, raw_size, ZSTD, _compressed(blob_id, raw_size, chunks))
        except BaseException:
            with self._lock:
                self._pending.discard(blob_id)
            raise
        return True

    def add_bytes(self, data: bytes) -> str:
        blob_id = blob_hash(data)
        self.add(blob_id, data)
        return blob_id.hex()

    def add_manifest(self, entries: Sequence[Entry]) -> str:
        """Store the manifest of ``entries`` (put in tree order); returns its id."""
        entries = sorted(entries, key=lambda e: order_key(e.path))
        return self.add_chunks(encode_chunks(entries))

    def add_chunks(self, chunks: Iterable[tuple[bytes, int]]) -> str:
        """Store a manifest from its encoded chunks and their entry counts; returns its id.
        Chunks already in the repository (most, after a small change) cost one hash each."""
        ids, count = [], 0
        group: list[tuple[bytes, bytes]] = []
        for chunk, n in chunks:
            blob_id = blob_hash(chunk)
            ids.append(blob_id.hex())
            count += n
            group.append((blob_id, chunk))
            if len(group) == CHUNK_GROUP:  # one index query per group, not per chunk
                self.add_many(group)
                group = []
        self.add_many(group)
        return self.add_bytes(encode_top(ids, count))

    def commit(self) -> None:
        # Replacing: a blob is written only when it was not soundly stored, so its new copy wins.
        self._repo.index.add(self._packs.commit(), replace=True)
        self._pending.clear()

    def abort(self) -> None:
        self._packs.abort()
        self._pending.clear()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self.abort()


def _compressed(blob_id: bytes, raw_size: int, chunks: Iterable[bytes]) -> Iterator[bytes]:
    compress = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL).compressobj(size=raw_size)
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        out = compress.compress(chunk)
        if out:
            yield out
    if size != raw_size or digest.digest() != blob_id:
        raise FileChangedError("the file changed while it was being stored")
    yield compress.flush()
