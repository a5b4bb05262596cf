"""A database snapshot as stored: content blobs and a "top" blob that lists them.

The top blob is UTF-8 JSON::

    {"format": "safepoint-db-snapshot", "version": 1, "engine": "sqlite" | "postgresql",
     "chunking": "fixed-<page size>" | "fastcdc-16k-64k-256k", "bytes": N,
     "chunks": [[blob id (hex), size], ...]}

and the snapshot's bytes are the chunks' contents in that order. A checkpoint refers to it in
``extra["database"]`` = ``{"engine", "name", "bytes", "top"}``. Chunks are ordinary blobs,
deduplicated like file content: a chunk already stored costs one hash.

SQLite files are cut into fixed pieces of one database page (at least ``PAGE_MIN``; the page
size is in the file's header): a page stays at its offset when rows change, so every page that
did not change gives the same piece. Pieces of one page, not larger: rows changed here and
there touch a page in ten (at ~400-byte rows and 1% of them changed) but three 64 KiB pieces
in four (measured: tests/dbsnap/test_dedup_large.py and README). A dump (``pg_dump``) moves
everything after a change, so it is cut where its content says (FastCDC, the ``fastcdc``
package): a change costs the chunks around it, not the rest of the dump.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from safepoint.errors import IntegrityError, OperationalError
from safepoint.store.repository import Repository
from safepoint.store.snapshots import FORMAT, VERSION, read_top
from safepoint.store.writer import BlobWriter, blob_hash

PAGE_MIN = 4096  # pieces of SQLite files: one page, but never smaller than this
CDC_MIN, CDC_AVG, CDC_MAX = 16 * 1024, 64 * 1024, 256 * 1024
CDC_NAME = "fastcdc-16k-64k-256k"
GROUP = 64  # chunks looked up in the index together


def sqlite_piece_size(path: Path) -> int:
    """The page size of the SQLite file at ``path`` (header bytes 16-17; 1 means 65536), at
    least PAGE_MIN."""
    with open(path, "rb") as f:
        header = f.read(100)
    raw = int.from_bytes(header[16:18], "big") if len(header) >= 18 else 0
    page = 65536 if raw == 1 else raw
    if page < 512 or page & (page - 1):  # not a SQLite header: still cut it, at the minimum
        page = PAGE_MIN
    return max(page, PAGE_MIN)


def fixed_pieces(path: Path, size: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while piece := f.read(size):
            yield piece


def cdc_pieces(path: Path) -> Iterator[bytes]:
    if path.stat().st_size == 0:
        return
    from fastcdc import fastcdc  # imported when a dump is stored: its start-up is not free

    for chunk in fastcdc(str(path), CDC_MIN, CDC_AVG, CDC_MAX, fat=True):
        yield bytes(chunk.data)


def store_snapshot(
    writer: BlobWriter, *, engine: str, name: str, chunking: str, pieces: Iterable[bytes]
) -> dict[str, Any]:
    """Store ``pieces`` and their top blob; returns the record's ``extra["database"]``."""
    listed: list[list[Any]] = []
    group: list[tuple[bytes, bytes]] = []
    total = 0
    for piece in pieces:
        blob_id = blob_hash(piece)
        listed.append([blob_id.hex(), len(piece)])
        total += len(piece)
        group.append((blob_id, piece))
        if len(group) == GROUP:
            writer.add_many(group)
            group = []
    writer.add_many(group)
    top = {
        "format": FORMAT,
        "version": VERSION,
        "engine": engine,
        "chunking": chunking,
        "bytes": total,
        "chunks": listed,
    }
    top_id = writer.add_bytes(json.dumps(top, separators=(",", ":")).encode())
    return {"engine": engine, "name": name, "bytes": total, "top": top_id}


def snapshot_pieces(repo: Repository, info: dict[str, Any]) -> Iterator[bytes]:
    """The snapshot's bytes, chunk by chunk, each hash-checked."""
    for blob_id, size in read_top(repo, info):
        data = repo.read_blob(blob_id)
        if len(data) != size:
            raise IntegrityError(f"database snapshot chunk {blob_id.hex()} has the wrong size")
        yield data


def write_snapshot(repo: Repository, info: dict[str, Any], dest: Path) -> None:
    """Write the snapshot's bytes to a new file ``dest`` (fsynced)."""
    try:
        with open(dest, "xb") as f:
            for data in snapshot_pieces(repo, info):
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise OperationalError(f"cannot write the database snapshot to {dest}: {exc}") from None
