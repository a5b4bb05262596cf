"""Storing a file's content, as the reader of the tree (``scan/tree.py``) and the repository
(``store/writer.py``) both see it: the size above which a file is never held whole, the pieces
it is read in, and the narrow interface through which the reader hands content to be stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from safepoint.errors import OperationalError

LARGE = 32 * 1024 * 1024  # blobs above this are streamed in CHUNK pieces, never held whole
CHUNK = 8 * 1024 * 1024


class FileChangedError(OperationalError):
    """A file's content changed between hashing it and storing it."""


class BlobSink(Protocol):
    """Where a checkpoint's read of the tree stores the content it reads
    (``store.writer.BlobWriter`` is one). Both calls must be idempotent: a blob already stored
    soundly is not stored again, so the reader need not know what the repository holds; both
    may be called from several threads at once."""

    def add_many(self, blobs: list[tuple[bytes, bytes]]) -> None:
        """Store each (sha256 digest, content) pair."""

    def add_file(self, blob_id: bytes, raw_size: int, chunks: Iterable[bytes]) -> bool:
        """Store a large file from ``chunks`` (read again from disk, never held whole). They
        must hash to ``blob_id``: else raise FileChangedError and keep nothing."""
        ...
