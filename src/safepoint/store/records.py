"""Checkpoint records and their marks.

A record is ``checkpoints/<id>.json``: small UTF-8 JSON, written atomically, never modified; its
id is the SHA-256 of its bytes. What changes later (known-good or bad after a health check,
pinned) lives beside it in ``marks/<id>.json``, replaced atomically as a whole; a health mark
says how, when and where it was earned (``health_by``, ``health_at``, ``health_host``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safepoint.errors import IntegrityError
from safepoint.model.entry import FILE, Entry
from safepoint.store.atomic import write_atomic

# The kinds a record may name: ``manual`` (create), ``safety`` (taken by a rollback), ``imported``
# (import). ``auto`` is reserved for automatic checkpoints (planned): no command makes one yet.
KINDS = ("manual", "safety", "imported", "auto")
SAFETY = "safety"
GOOD, BAD = "good", "bad"
# How a health mark was earned (``Marks.health_by``).
BY_CREATE = "create --verify-health"
BY_ROLLBACK = "rollback"  # proven (or failed, and undone) right after a rollback to it
BY_HAND = "mark"  # ``safepoint mark REF good|bad``
BY_RUN = "run"  # the checks passed right after a guarded change (``run``, ``change()``)
REASON_MAX = 200  # a mark's reason is a one-line summary, not a report


@dataclass(frozen=True)
class Marks:
    health: str | None = None  # "good" (known-good) or "bad"
    health_at: str | None = None  # ISO 8601, UTC
    health_by: str | None = None  # BY_*; None in marks written before it was recorded
    health_host: str | None = None  # the host that ran the checks (or set the mark)
    health_reason: str | None = None  # why bad: the failing check's summary, or the user's words
    pinned: bool = False

    def with_health(self, verdict: str | None, *, by: str, reason: str | None = None) -> Marks:
        """These marks with the health mark replaced (``verdict`` None clears it), earned now
        on this host; pinned is kept. A new mark always replaces the old one whole: a good
        mark followed by a bad one is bad."""
        if verdict is None:
            return Marks(pinned=self.pinned)
        if reason is not None and len(reason) > REASON_MAX:
            reason = reason[: REASON_MAX - 1] + "…"
        return Marks(
            health=verdict,
            health_at=now_iso(),
            health_by=by,
            health_host=os.uname().nodename,
            health_reason=reason,
            pinned=self.pinned,
        )


@dataclass(frozen=True)
class Checkpoint:
    id: str
    created: str  # ISO 8601, UTC, microseconds
    kind: str
    manifest: str  # blob id of the manifest
    files: int
    bytes: int  # total size of the files
    new_bytes: int  # bytes this checkpoint added to the repository (compressed)
    label: str | None = None
    note: str | None = None
    host: str | None = None
    user: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. what a safety checkpoint protects
    marks: Marks = field(default_factory=Marks)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def display_name(self) -> str:
        """The short id, and the label when there is one: how messages name a checkpoint."""
        return f"{self.short_id} ({self.label})" if self.label else self.short_id

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.created)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["marks"] = asdict(self.marks)
        return doc


def new_checkpoint(entries: Iterable[Entry], **fields: Any) -> Checkpoint:
    """A record (not yet saved, so without id) for a tree of ``entries``: counts its files and
    bytes; ``fields`` give the rest (kind, manifest, created, new_bytes, label, ...)."""
    sizes = [e.size for e in entries if e.kind == FILE]
    return Checkpoint(id="", files=len(sizes), bytes=sum(sizes), **fields)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def record_body(cp: Checkpoint) -> bytes:
    doc = cp.to_json()
    del doc["id"], doc["marks"]
    return json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=True).encode("ascii") + b"\n"


def save_record(directory: Path, cp: Checkpoint) -> Checkpoint:
    """Write ``cp`` (its id is ignored and computed) and return it with its id."""
    body = record_body(cp)
    cid = hashlib.sha256(body).hexdigest()
    write_atomic(directory / f"{cid}.json", body)
    return replace(cp, id=cid)


def load_record(path: Path, marks_dir: Path) -> Checkpoint:
    body = path.read_bytes()
    cid = path.name.removesuffix(".json")
    if hashlib.sha256(body).hexdigest() != cid:
        raise IntegrityError(f"checkpoint record {cid[:12]} is damaged (hash mismatch)")
    try:
        doc = json.loads(body)
        cp = Checkpoint(id=cid, **doc)
    except (ValueError, TypeError) as exc:
        raise IntegrityError(f"checkpoint record {cid[:12]} is damaged: {exc}") from None
    return replace(cp, marks=load_marks(marks_dir, cid))


_MARK_FIELDS = frozenset(f.name for f in fields(Marks))


def load_marks(marks_dir: Path, cid: str) -> Marks:
    """The marks of ``cid``. Files written by earlier versions lack the ``health_by`` family
    and read with those as None; keys a later version added are ignored."""
    try:
        doc = json.loads((marks_dir / f"{cid}.json").read_bytes())
        return Marks(**{k: v for k, v in doc.items() if k in _MARK_FIELDS})
    except FileNotFoundError:
        return Marks()
    except (ValueError, TypeError, AttributeError):
        return Marks()  # marks are advisory; a damaged file reads as "unknown"


def save_marks(marks_dir: Path, cid: str, marks: Marks) -> None:
    write_atomic(marks_dir / f"{cid}.json", json.dumps(asdict(marks)).encode())
