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
from dataclasses import asdict, dataclass
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
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise IntegrityError(f"rollback journal {path} is damaged: {exc}") from None
    if doc.pop("version", None) != JOURNAL_VERSION:
        raise IntegrityError(f"rollback journal {path} has an unknown version")
    return Journal(**doc)


def remove_journal(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)
