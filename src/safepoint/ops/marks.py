"""Health marks set by hand (``safepoint mark REF good|bad|clear``), and how a mark is told.

A mark is advisory state beside an immutable record (see store/records.py): setting one never
changes a checkpoint's content or id. Marks are per host: a bare ``rollback`` and ``guard`` go
only to a checkpoint whose newest mark on this host is good; a checkpoint marked bad is still
reachable by naming it. Pinned is one flag for every host.
"""

from __future__ import annotations

from datetime import datetime

from safepoint.errors import UsageError
from safepoint.ops.refs import resolve
from safepoint.ops.site import Site
from safepoint.store.records import (
    BAD,
    BY_CREATE,
    BY_HAND,
    BY_ROLLBACK,
    BY_RUN,
    GOOD,
    Checkpoint,
    Marks,
    this_host,
)

CLEAR = "clear"
VERDICTS = (GOOD, BAD, CLEAR)
# How each way of earning a mark is told: in full (show, messages) and in a narrow column (list).
HOW_WORDS = {
    BY_HAND: "by hand",
    BY_ROLLBACK: "by rollback",
    BY_CREATE: "by create --verify-health",
    BY_RUN: "by run",
}
HOW_SHORT = {BY_HAND: "hand", BY_ROLLBACK: "rollback", BY_CREATE: "create", BY_RUN: "run"}


def set_mark(site: Site, ref: str, verdict: str, *, reason: str | None = None) -> Checkpoint:
    """Mark checkpoint ``ref`` good or bad by hand, or clear its health mark (pinned is kept).
    Takes the repository lock, so that a mark never races a rollback's own."""
    if verdict not in VERDICTS:
        raise UsageError(f"a mark is one of {', '.join(VERDICTS)}, not {verdict!r}")
    if reason is not None and verdict == CLEAR:
        raise UsageError("a reason goes with a good or bad mark, not with clear")
    repo = site.repository
    with repo.lock():
        cp = resolve(ref, repo.checkpoints())
        marks = cp.marks.with_health(
            None if verdict == CLEAR else verdict, by=BY_HAND, reason=reason or None
        )
        return repo.set_marks(cp, marks)


def describe(cp: Checkpoint) -> str:
    return f"checkpoint {cp.display_name}"


def other_hosts(marks: Marks) -> list[Marks]:
    """The marks other hosts earned (``show`` lists them; they do not count here)."""
    host = this_host()
    return [m for m in marks.hosts if m.health_host not in (host, None)]


def marked_at(marks: Marks) -> datetime | None:
    """When the mark was earned, in local time (as creation times are shown)."""
    if marks.health_at is None:
        return None
    try:
        return datetime.fromisoformat(marks.health_at).astimezone()
    except (ValueError, OverflowError):
        return None  # advisory: a mark with an unreadable time still says what it is


def describe_mark(marks: Marks) -> str:
    """E.g. ``bad (by rollback, 2026-12-03 14:05, on web1): 1 of 2 health checks failed: ...``;
    a mark written before how was recorded says only what it is and when."""
    if marks.health is None:
        return "unknown"
    how = marks.health_by and HOW_WORDS.get(marks.health_by, f"by {marks.health_by}")
    at = marked_at(marks)
    when = at and f"{at:%Y-%m-%d %H:%M}"
    where = marks.health_host and f"on {marks.health_host}"
    details = ", ".join(part for part in (how, when, where) if part)
    text = f"{marks.health} ({details})" if details else marks.health
    return f"{text}: {marks.health_reason}" if marks.health_reason else text
