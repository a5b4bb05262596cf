"""Which blobs a database snapshot uses (its format is written by ``dbsnap/chunks.py``): the
part of it that ``store`` must know, so that reachability (``reach.blobs_of``: gc, check,
repair) and ``verify`` count a snapshot's blobs as the record's.

A checkpoint refers to a snapshot in ``extra["database"]`` = ``{"engine", "name", "bytes",
"top"}``; the top blob is JSON ``{"format": "safepoint-db-snapshot", "version": 1, ...,
"chunks": [[blob id (hex), size], ...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from safepoint.errors import IntegrityError
from safepoint.store.records import Checkpoint

if TYPE_CHECKING:
    from safepoint.store.repository import Repository

FORMAT = "safepoint-db-snapshot"
VERSION = 1


def snapshot_info(cp_extra: dict[str, Any]) -> dict[str, Any] | None:
    """The ``extra["database"]`` of a record, or None when it has no snapshot."""
    info = cp_extra.get("database")
    return info if isinstance(info, dict) and isinstance(info.get("top"), str) else None


def read_top(repo: Repository, info: dict[str, Any]) -> list[tuple[bytes, int]]:
    """The chunk list of a snapshot (hash-checked; IntegrityError when it cannot be read)."""
    try:
        top_id = bytes.fromhex(info["top"])
    except (ValueError, TypeError):
        raise IntegrityError(
            f"database snapshot top {info.get('top')!r} is not a blob id"
        ) from None
    doc = json.loads(repo.read_blob(top_id))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise IntegrityError(f"blob {top_id.hex()} is not a database snapshot this safepoint reads")
    try:
        return [(bytes.fromhex(h), int(n)) for h, n in doc["chunks"]]
    except (KeyError, ValueError, TypeError) as exc:
        raise IntegrityError(f"database snapshot {top_id.hex()} is malformed: {exc}") from None


def snapshot_blobs(repo: Repository, cp: Checkpoint) -> Iterator[bytes]:
    """Every blob the database snapshot of checkpoint ``cp`` uses (none without one): its top
    blob, then its chunks. The one place that knows; reachability (gc) and verify ask it. A
    top blob that cannot be read raises IntegrityError after yielding its own id, so a caller
    deleting what nothing reaches stops rather than taking the chunks."""
    info = snapshot_info(cp.extra)
    if info is None:
        return
    yield bytes.fromhex(info["top"])
    for blob_id, _ in read_top(repo, info):
        yield blob_id
