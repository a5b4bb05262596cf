"""The rollback journal: ``<repository>/journal.json``, written durably before the first change
to the site and removed after the last.

    {"version": 1, "target": "<checkpoint id>", "safety": "<checkpoint id>",
     "nonce": "<hex>", "started": "<ISO time>", "purpose": "rollback" | "undo"}

While it exists, commands that would change the site or the repository refuse and name
``safepoint recover``. Temporary files of the rollback are named ``.safepoint-tmp-<nonce>-*``
so recover can find and remove them.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from safepoint.errors import IntegrityError
from safepoint.store.atomic import fsync_dir, write_atomic
from safepoint.store.records import now_iso

JOURNAL_VERSION = 1


@dataclass(frozen=True)
class Journal:
    target: str
    safety: str
    nonce: str
    started: str
    purpose: str = "rollback"

    @classmethod
    def new(cls, *, target: str, safety: str, purpose: str = "rollback") -> Journal:
        return cls(target, safety, secrets.token_hex(4), now_iso(), purpose)


def write_journal(path: Path, journal: Journal) -> None:
    doc = {"version": JOURNAL_VERSION, **asdict(journal)}
    write_atomic(path, json.dumps(doc, indent=1).encode() + b"\n")


def read_journal(path: Path) -> Journal | None:
    """The journal, None when there is none; IntegrityError (the file is kept) when it cannot
    be read or is not a journal of this version."""
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise _damaged(path, str(exc)) from None
    if not isinstance(doc, dict):
        raise _damaged(path, f"it holds a JSON {type(doc).__name__}, not an object")
    if doc.get("version") != JOURNAL_VERSION:
        raise _damaged(path, f"unknown version {doc.get('version')!r}")
    body = {k: v for k, v in doc.items() if k != "version"}
    names = {f.name for f in fields(Journal)}
    bad = [k for k in sorted(body) if k not in names or not (isinstance(body[k], str) and body[k])]
    bad += sorted(names - {"purpose"} - body.keys())  # purpose: absent in older journals
    if bad:
        raise _damaged(path, f"missing, empty or unknown: {', '.join(bad)}")
    return Journal(**body)


def pending_recovery(path: Path) -> str | None:
    """What a pending journal means, for ``status`` and for the commands it stops; None when
    no rollback is pending."""
    try:
        journal = read_journal(path)
    except IntegrityError as exc:
        return str(exc)
    if journal is None:
        return None
    what = "undo of a rollback" if journal.purpose == "undo" else "rollback"
    return (
        f"a {what} to {journal.target[:12]} (started {journal.started}) did not finish and the "
        "site may be part-way; run 'safepoint recover'"
    )


def _damaged(path: Path, why: str) -> IntegrityError:
    return IntegrityError(
        f"rollback journal {path} is damaged ({why}); it is kept, and 'safepoint recover' "
        "cannot use it. The site may be part-way between two checkpoints: compare it with "
        "'safepoint status' and 'safepoint list', then move the journal away and roll back to "
        "the checkpoint you want"
    )


def remove_journal(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)
