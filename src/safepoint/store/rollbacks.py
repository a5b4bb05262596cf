"""Rollback records: what each rollback did and how it ended, for the history page.

``rollbacks/<UTC time>-<8 random hex digits>.json``, one small JSON file per rollback, written
atomically (tmp, fsync, rename) once the rollback has ended and never modified; nothing is ever
appended to a shared file, so a crash loses at most the record being written and never damages
another. The name sorts by time; the random part keeps two records of one microsecond apart::

    {"version": 1, "time": ISO UTC, "host": "web1", "to": ID, "safety": ID or null,
     "outcome": "healthy" | "unchecked" | "undone" | "undone, still failing" | "undo failed",
     "health": "all 2 health checks passed" (the target's proof, one line) or null,
     "undo_health": the undo's proof or null, "written": N, "removed": N, "seconds": 1.25}

``to`` is the checkpoint rolled back to; ``safety`` the safety checkpoint of the tree it
replaced (the "from"). Records are advisory, like marks: one that cannot be read is skipped.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path

from safepoint.store.atomic import write_atomic

ROLLBACKS_DIR = "rollbacks"
VERSION = 1
HEALTHY, UNCHECKED, UNDONE, STILL_FAILING, UNDO_FAILED = (
    "healthy",
    "unchecked",
    "undone",
    "undone, still failing",
    "undo failed",
)
_SUMMARY_MAX = 300


@dataclass(frozen=True)
class RollbackRecord:
    time: str  # ISO 8601, UTC
    to: str
    safety: str | None
    outcome: str
    health: str | None = None  # the target's proof, one line
    undo_health: str | None = None  # the undo's proof, when there was one
    written: int = 0
    removed: int = 0
    seconds: float = 0.0
    host: str | None = None
    version: int = VERSION


def write_rollback_record(repo_path: Path, record: RollbackRecord) -> Path:
    folder = repo_path / ROLLBACKS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = datetime.fromisoformat(record.time).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{stamp}-{secrets.token_hex(4)}.json"
    doc = asdict(record) | {"health": _cut(record.health), "undo_health": _cut(record.undo_health)}
    write_atomic(path, json.dumps(doc, sort_keys=True).encode() + b"\n")
    return path


def _cut(text: str | None) -> str | None:
    if text is not None and len(text) > _SUMMARY_MAX:
        return text[: _SUMMARY_MAX - 1] + "…"
    return text


_FIELDS = frozenset(f.name for f in fields(RollbackRecord))
# What each key must hold for a record to be shown (others are skipped as unreadable).
_TYPES: dict[str, type | tuple[type, ...]] = {
    "time": str,
    "to": str,
    "safety": (str, type(None)),
    "outcome": str,
    "health": (str, type(None)),
    "undo_health": (str, type(None)),
    "written": int,
    "removed": int,
    "seconds": (int, float),
    "host": (str, type(None)),
}


def read_rollback_records(repo_path: Path) -> list[RollbackRecord]:
    """Every readable record, oldest first."""
    out = []
    for path in sorted((repo_path / ROLLBACKS_DIR).glob("*.json")):
        try:
            doc = json.loads(path.read_bytes())
            record = RollbackRecord(**{k: v for k, v in doc.items() if k in _FIELDS})
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        if all(isinstance(getattr(record, k), _TYPES[k]) for k in _TYPES):
            out.append(record)
    return out
