"""Manifests: the sorted entries of one checkpoint, stored as a blob.

Encoding (UTF-8 JSON, non-ASCII and surrogate-escaped names written as ``\\u`` escapes so any
file name round-trips)::

    {"version": 1, "entries": [[path, kind, mode, uid, gid, size, mtime_ns, blob_or_target], ...]}

``kind`` is "f" (file; last field is the content's SHA-256), "d" (directory; null) or "l" (symlink;
the link target).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from safepoint.errors import IntegrityError
from safepoint.scan.entry import FILE, SYMLINK, Entry

MANIFEST_VERSION = 1


def encode_manifest(entries: Sequence[Entry]) -> bytes:
    rows = [
        [
            e.path,
            e.kind,
            e.mode,
            e.uid,
            e.gid,
            e.size,
            e.mtime_ns,
            e.blob if e.kind == FILE else e.target,
        ]
        for e in entries
    ]
    return json.dumps({"version": MANIFEST_VERSION, "entries": rows}, separators=(",", ":")).encode(
        "ascii"
    )


def decode_manifest(data: bytes) -> list[Entry]:
    try:
        doc = json.loads(data)
        if doc.get("version") != MANIFEST_VERSION:
            raise IntegrityError(f"manifest of unknown version {doc.get('version')!r}")
        out = []
        for path, kind, mode, uid, gid, size, mtime_ns, extra in doc["entries"]:
            out.append(
                Entry(
                    path,
                    kind,
                    mode,
                    uid,
                    gid,
                    size,
                    mtime_ns,
                    target=extra if kind == SYMLINK else None,
                    blob=extra if kind == FILE else None,
                )
            )
        return out
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IntegrityError(f"damaged manifest: {exc}") from None
