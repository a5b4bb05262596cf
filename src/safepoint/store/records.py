"""Checkpoint records and their marks.

A record is ``checkpoints/<id>.json``: small UTF-8 JSON, written atomically, never modified; its
id is the SHA-256 of its bytes. What changes later (known-good or bad after a health check,
pinned) lives beside it in ``marks/<id>.json``, replaced atomically as a whole. Health marks
are kept per host (several hosts may share a repository, and a checkpoint proven good on one
has not been proven on another): ``{"pinned": bool, "hosts": {HOST: {"health", "health_at",
"health_by", "health_reason"}}}``. A ``Marks`` read on a host holds that host's mark in its
``health*`` fields (what a bare rollback and ``list`` go by) and every host's in ``hosts``.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
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
    health: str | None = None  # "good" (known-good) or "bad", on this host
    health_at: str | None = None  # ISO 8601, UTC
    health_by: str | None = None  # BY_*; None in marks written before it was recorded
    health_host: str | None = None  # the host that ran the checks (or set the mark)
    health_reason: str | None = None  # why bad: the failing check's summary, or the user's words
    pinned: bool = False  # for every host
    hosts: tuple[Marks, ...] = ()  # each host's mark (this host's too), newest first

    def with_health(self, verdict: str | None, *, by: str, reason: str | None = None) -> Marks:
        """These marks with this host's health mark replaced (``verdict`` None clears it),
        earned now; pinned and the other hosts' marks are kept. A new mark always replaces
        the host's old one whole: a good mark followed by a bad one is bad."""
        host = this_host()
        others = tuple(m for m in self.hosts if m.health_host not in (host, None))
        if verdict is None:
            return Marks(pinned=self.pinned, hosts=others)
        if reason is not None and len(reason) > REASON_MAX:
            reason = reason[: REASON_MAX - 1] + "…"
        mine = Marks(
            health=verdict,
            health_at=now_iso(),
            health_by=by,
            health_host=host,
            health_reason=reason,
        )
        return replace(mine, pinned=self.pinned, hosts=(mine, *others))


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
        doc["marks"] = {k: v for k, v in vars(self.marks).items() if k != "hosts"}
        doc["marks"]["hosts"] = [  # each host's mark: what it is, not pinned again
            {"health_host": m.health_host, **{k: getattr(m, k) for k in _HOST_FIELDS}}
            for m in self.marks.hosts
        ]
        return doc


_RECORD_FIELDS = tuple(f.name for f in fields(Checkpoint) if f.name not in ("extra", "marks"))


def new_checkpoint(entries: Iterable[Entry], **fields: Any) -> Checkpoint:
    """A record (not yet saved, so without id) for a tree of ``entries``: counts its files and
    bytes; ``fields`` give the rest (kind, manifest, created, new_bytes, label, ...)."""
    sizes = [e.size for e in entries if e.kind == FILE]
    return Checkpoint(id="", files=len(sizes), bytes=sum(sizes), **fields)


NOW_ENV = "SAFEPOINT_NOW"
HOST_ENV = "SAFEPOINT_HOST"
HOST_MAX = 253  # a DNS name's length


def this_host() -> str:
    """The name records, marks and rollback records give this host: ``SAFEPOINT_HOST`` when set
    (two site roots on one machine standing for two hosts, in tests and demos; or a stable
    name on a host whose name changes), else the node name. Read here only."""
    name = os.environ.get(HOST_ENV)
    if name is None:
        return os.uname().nodename
    if not name or len(name) > HOST_MAX or not name.isprintable():
        raise UsageError(
            f"{HOST_ENV}={name!r} is not a host name (1 to {HOST_MAX} printable characters)"
        )
    return name


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


_HOST_FIELDS = ("health", "health_at", "health_by", "health_reason")


def load_marks(marks_dir: Path, cid: str) -> Marks:
    """The marks of ``cid`` as this host sees them (see ``marks_from_doc``)."""
    return marks_from_doc(read_marks_doc(marks_dir / f"{cid}.json") or {}, this_host())


def marks_from_doc(doc: dict[str, Any], host: str) -> Marks:
    """A marks file's object as ``host`` sees it. A file of an earlier version holds one mark:
    it counts as earned on its ``health_host``, or on every host reading it when it has none
    (the oldest versions: one host per repository then). Marks are advisory: a damaged entry
    reads as unknown, keys a later version added are ignored."""
    hosts = doc.get("hosts")
    if isinstance(hosts, dict):
        entries = [_host_mark(name, m) for name, m in hosts.items() if isinstance(m, dict)]
    else:  # host None: the oldest form, this host's as much as any host's
        entries = [_host_mark(doc.get("health_host"), doc)]
    known = sorted(
        (m for m in entries if m is not None), key=lambda m: m.health_at or "", reverse=True
    )
    mine = next((m for m in known if m.health_host in (host, None)), Marks())
    return replace(mine, pinned=doc.get("pinned") is True, hosts=tuple(known))


def _host_mark(host: object, doc: dict[str, Any]) -> Marks | None:
    """One host's mark from its JSON (None when it is not a readable good or bad mark)."""
    fields: dict[str, Any] = {k: doc.get(k) for k in _HOST_FIELDS}
    if fields["health"] not in (GOOD, BAD) or not isinstance(host, str | None):
        return None
    if not all(v is None or isinstance(v, str) for v in fields.values()):
        return None
    return Marks(health_host=host, **fields)


def marks_doc(marks: Marks, host: str) -> dict[str, Any]:
    """What ``marks/ID.json`` holds for ``marks``, written on ``host`` (which a mark of the
    oldest form, without a host, is then written as)."""
    hosts = {
        m.health_host or host: {k: getattr(m, k) for k in _HOST_FIELDS}
        for m in reversed(marks.hosts)  # newest last: it wins a clash with a host-less mark
    }
    return {"pinned": marks.pinned, "hosts": hosts}


def merged(old: Marks, new: Marks, *, host: str | None) -> Marks:
    """What to write when ``new`` is written over ``old`` (the file as it is now, which another
    host may have changed since ``new`` was read). ``host`` given: ``new`` speaks for that
    host's mark and for pinned, ``old`` for every other host's. None (a copy between
    repositories): each host's newest mark wins, and pinned in either stays pinned."""
    by_host = {m.health_host: m for m in old.hosts}
    if host is not None:
        by_host.pop(host, None)
        by_host.pop(None, None)  # a host-less mark counted as this host's: replaced too
        if new.health is not None:  # this host's mark, as with_health made it (or a caller)
            by_host[host] = replace(new, health_host=host, pinned=False, hosts=())
        pinned = new.pinned
    else:
        for m in new.hosts:
            have = by_host.get(m.health_host)
            if have is None or (m.health_at or "") > (have.health_at or ""):
                by_host[m.health_host] = m
        pinned = old.pinned or new.pinned
    hosts = sorted(by_host.values(), key=lambda m: m.health_at or "", reverse=True)
    return Marks(pinned=pinned, hosts=tuple(hosts))


def combined_marks(
    theirs: dict[str, Any], ours: dict[str, Any], host: str, *, our_pinned: bool
) -> dict[str, Any]:
    """Two copies of one checkpoint's marks (a remote repository's and a host's cache): every
    other host's mark as ``theirs`` has it, ``host``'s own as ``ours`` has it (else as theirs
    has it), and pinned from ours when ``our_pinned`` (ours is being written), else theirs.
    So hosts marking the same checkpoint at once keep each other's verdicts."""
    t, o = marks_from_doc(theirs, host), marks_from_doc(ours, host)
    by_host = {m.health_host: m for m in t.hosts if m.health_host not in (host, None)}
    mine = o if o.health is not None else t
    if mine.health is not None:
        by_host[host] = replace(mine, health_host=host, pinned=False, hosts=())
    hosts = sorted(by_host.values(), key=lambda m: m.health_at or "", reverse=True)
    return marks_doc(Marks(pinned=o.pinned if our_pinned else t.pinned, hosts=tuple(hosts)), host)


def read_marks_doc(path: Path) -> dict[str, Any] | None:
    """A marks file's JSON object; None when missing or damaged."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def save_marks(marks_dir: Path, cid: str, marks: Marks, *, copying: bool = False) -> Marks:
    """Write ``marks`` over what ``marks/ID.json`` holds now: this host's mark and pinned, or
    when ``copying`` every host's newest (see ``merged``); the marks written, as this host sees
    them. The caller holds the repository lock."""
    host = this_host()
    old = load_marks(marks_dir, cid)
    doc = marks_doc(merged(old, marks, host=None if copying else host), host)
    if copying and doc == marks_doc(old, host):
        return old  # nothing new: marks/ (and the catalogue's view of it) stay as they are
    write_atomic(marks_dir / f"{cid}.json", json.dumps(doc, sort_keys=True).encode())
    return marks_from_doc(doc, host)
