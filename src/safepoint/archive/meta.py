"""The reserved folder of a safepoint archive (``.safepoint-checkpoint/``: archive.json, the
checkpoint record, the note), read and checked on import.

The record's fields become the imported checkpoint's, and from there reach listings, file
names and the restore script of a later export, so each is checked as if typed by a stranger:
the label by ``check_label`` as ``create`` checks it (in ``importer``, since ``--label`` may
replace it), ``created`` must be an ISO 8601 time
with a zone in the canonical form safepoint writes, from 1970 to now (a date in the future
would make it ``latest``; dates out of range broke ``list`` and ``export``), and the host and
user plain text of at most 255 characters.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from safepoint.archive.layout import (
    ARCHIVE_FORMAT,
    ARCHIVE_VERSION,
    INFO_NAME,
    META_DIR,
    NOTE_NAME,
    RECORD_NAME,
)
from safepoint.archive.paths import display
from safepoint.errors import IntegrityError, UsageError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SKEW = timedelta(minutes=10)  # clocks of two servers may differ a little, not more
MAX_TEXT = 255
_CREATED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}:\d{2}|Z)")


@dataclass(frozen=True)
class ArchiveMeta:
    """What ``.safepoint-checkpoint/`` says: archive.json, the record, the note."""

    info: dict[str, Any]
    record: dict[str, Any]
    note: str | None


def parse_meta(archive: Path, files: dict[str, bytes]) -> ArchiveMeta:
    def bad(what: str) -> UsageError:
        return UsageError(f"{archive.name}: {META_DIR}/{what}")

    try:
        info = json.loads(files[INFO_NAME])
        record_bytes = files[RECORD_NAME]
        record = json.loads(record_bytes)
    except KeyError as exc:
        raise bad(f"{exc.args[0]} is missing") from None
    except ValueError as exc:
        raise bad(f"is not valid JSON: {exc}") from None
    if not isinstance(info, dict) or info.get("format") != ARCHIVE_FORMAT:
        raise bad(f"{INFO_NAME} is not a safepoint archive description")
    if info.get("version") != ARCHIVE_VERSION:
        raise UsageError(
            f"{archive.name} is a safepoint archive of version {info.get('version')!r}; this "
            f"safepoint reads version {ARCHIVE_VERSION} (upgrade safepoint)"
        )
    if hashlib.sha256(record_bytes).hexdigest() != info.get("checkpoint"):
        raise IntegrityError(
            f"{archive.name}: the checkpoint record does not match its id (damaged archive)"
        )
    if not isinstance(record, dict):
        raise bad(f"{RECORD_NAME} is not a checkpoint record")
    for key in ("label", "note", "host", "user"):
        if not isinstance(record.get(key), str | None):
            raise bad(f"{RECORD_NAME}: {key} is not text")
    for key in ("host", "user"):
        problem = text_problem(record.get(key))
        if problem is not None:
            raise bad(f"{RECORD_NAME}: {key} {problem}")
    created = record.get("created")
    problem = created_problem(created) if isinstance(created, str) else "is not a time"
    if problem is not None:
        raise bad(f"{RECORD_NAME}: created {problem}")
    note = files.get(NOTE_NAME)
    return ArchiveMeta(
        info, record, note.decode("utf-8", "surrogateescape") if note is not None else None
    )


def created_problem(text: str, *, now: datetime | None = None) -> str | None:
    """Why ``text`` is not an acceptable creation time, or None."""
    shown = display(text[:64])
    if not _CREATED.fullmatch(text):
        return f"{shown} is not a time in the form YYYY-mm-ddTHH:MM:SS[.ffffff]+HH:MM"
    try:
        when = datetime.fromisoformat(text)
        when.astimezone(UTC)
    except (ValueError, OverflowError):
        return f"{shown} is not a valid time"
    now = now or datetime.now(UTC)
    if when < EPOCH:
        return f"{shown} is before 1970"
    if when > now + FUTURE_SKEW:
        return f"{shown} is in the future"
    return None


def text_problem(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_TEXT:
        return f"is {len(value)} characters long (at most {MAX_TEXT})"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        return f"{display(value[:64])} holds a control character"
    return None


def check_count(archive: Path, meta: ArchiveMeta, count: int, total: int) -> None:
    """The archive holds the ``count`` entries of ``total`` bytes its description says."""
    entries = meta.info.get("entries")
    if entries != count or meta.info.get("bytes") != total:
        raise IntegrityError(
            f"{archive.name}: holds {count} entries ({total} bytes) but was written "
            f"with {entries} ({meta.info.get('bytes')} bytes); the archive is incomplete"
        )
