"""Checkpoint records and their marks.

A record is ``checkpoints/<id>.json``: small UTF-8 JSON, written atomically, never modified; its
id is the SHA-256 of its bytes. What changes later (known-good or bad after a health check,
pinned) lives beside it in ``marks/<id>.json``, replaced atomically as a whole; a health mark
says how, when and where it was earned (``health_by``, ``health_at``, ``health_host``).
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safepoint.errors import IntegrityError, UsageError
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
        # Not dataclasses.asdict: its deep copy of every field was most of a 10,000-row
        # ``list --json``. Only ``extra`` holds anything mutable (JSON data, which marshal
        # copies in C); the marks are flat.
        doc = {name: getattr(self, name) for name in _RECORD_FIELDS}
        doc["extra"] = marshal.loads(marshal.dumps(self.extra)) if self.extra else {}
        doc["marks"] = vars(self.marks).copy()
        return doc


_RECORD_FIELDS = tuple(f.name for f in fields(Checkpoint) if f.name not in ("extra", "marks"))


def new_checkpoint(entries: Iterable[Entry], **fields: Any) -> Checkpoint:
    """A record (not yet saved, so without id) for a tree of ``entries``: counts its files and
    bytes; ``fields`` give the rest (kind, manifest, created, new_bytes, label, ...)."""
    sizes = [e.size for e in entries if e.kind == FILE]
    return Checkpoint(id="", files=len(sizes), bytes=sum(sizes), **fields)


NOW_ENV = "SAFEPOINT_NOW"


def now_iso() -> str:
    """The time records and marks are stamped with: now, in UTC. A test hook: the environment
    variable ``SAFEPOINT_NOW`` (an ISO time with its zone) stands in for the clock, so tests
    build histories spread over days without waiting. Read here only."""
    fixed = os.environ.get(NOW_ENV)
    if fixed:
        try:
            at = datetime.fromisoformat(fixed)
        except ValueError:
            raise UsageError(f"{NOW_ENV}={fixed!r} is not an ISO time") from None
        if at.tzinfo is None:
            raise UsageError(f"{NOW_ENV}={fixed!r} needs a zone (e.g. +00:00)")
        return at.astimezone(UTC).isoformat(timespec="microseconds")
    return datetime.now(UTC).isoformat(timespec="microseconds")


def now() -> datetime:
    return datetime.fromisoformat(now_iso())


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
    cp = parse_record(path.name, path.read_bytes())
    return replace(cp, marks=load_marks(marks_dir, cp.id))


def parse_record(name: str, body: bytes) -> Checkpoint:
    """The record in file ``name`` (``ID.json``) holding ``body``, without its marks;
    IntegrityError when its hash or content is wrong."""
    cid = name.removesuffix(".json")
    if hashlib.sha256(body).hexdigest() != cid:
        raise IntegrityError(f"checkpoint record {cid[:12]} is damaged (hash mismatch)")
    try:
        doc = json.loads(body)
        cp = Checkpoint(id=cid, **doc)
    except (ValueError, TypeError) as exc:
        raise IntegrityError(f"checkpoint record {cid[:12]} is damaged: {exc}") from None
    return checked(cp)


def checked(cp: Checkpoint) -> Checkpoint:
    """A record whose hash matches can still hold what nothing can sort or read (written by
    hand or by another program): refused like a damaged one."""
    try:
        datetime.fromisoformat(cp.created)  # any parseable date sorts and prints (see export)
        if len(bytes.fromhex(cp.manifest)) != 32:
            raise ValueError("manifest is not a blob id")
    except (TypeError, ValueError, OverflowError) as exc:
        raise IntegrityError(f"checkpoint record {cp.short_id} is malformed: {exc}") from None
    return cp


_MARK_FIELDS = frozenset(f.name for f in fields(Marks))


def load_marks(marks_dir: Path, cid: str) -> Marks:
    """The marks of ``cid``. Files written by earlier versions lack the ``health_by`` family
    and read with those as None; keys a later version added are ignored."""
    doc = read_marks_doc(marks_dir / f"{cid}.json")
    try:
        return Marks(**{k: v for k, v in (doc or {}).items() if k in _MARK_FIELDS})
    except TypeError:
        return Marks()  # marks are advisory; a damaged file reads as "unknown"


def read_marks_doc(path: Path) -> dict[str, Any] | None:
    """A marks file's JSON object; None when missing or damaged."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def save_marks(marks_dir: Path, cid: str, marks: Marks) -> None:
    write_atomic(marks_dir / f"{cid}.json", json.dumps(asdict(marks)).encode())
