"""Damage notes: ``damaged/ID.json``, written by ``safepoint repair`` for a checkpoint whose
data is gone and could not be healed::

    {"reason": "3 file(s) lost: static/big.bin, ...", "at": ISO time, "lost": ["path", ...]}

``lost`` names at most 20 paths (``(manifest)`` when the manifest itself is lost). The record
stays in the list with this reason; restore and rollback refuse it, saying why; ``gc`` keeps
what is left of it. A later ``repair`` that finds it whole removes the note; ``gc`` removes a
note whose record is gone. Replaced atomically; a note that cannot be read still means damaged.
On a remote repository the notes are in the cache and, for every host, in ``damaged/`` on the
remote (store/remote_repair.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from safepoint.errors import IntegrityError
from safepoint.store.atomic import write_atomic
from safepoint.store.records import Checkpoint, now_iso

if TYPE_CHECKING:
    from safepoint.store.repository import Repository

FOLDER = "damaged"
LISTED = 20


def note_path(repo: Repository, cid: str) -> Path:
    return repo.path / FOLDER / f"{cid}.json"


def reason(repo: Repository, cid: str) -> str | None:
    """Why ``cid`` is damaged, None when no repair said so."""
    try:
        doc = json.loads((repo.path / FOLDER / f"{cid}.json").read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "marked damaged by 'safepoint repair' (its note is unreadable)"
    why = doc.get("reason") if isinstance(doc, dict) else None
    return str(why) if why else "marked damaged by 'safepoint repair'"


def mark(repo: Repository, cid: str, lost: list[str]) -> str:
    shown = ", ".join(lost[:3]) + (", ..." if len(lost) > 3 else "")
    why = f"{len(lost)} item(s) lost: {shown}"
    folder = repo.path / FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    doc = {"reason": why, "at": now_iso(), "lost": lost[:LISTED]}
    write_atomic(folder / f"{cid}.json", json.dumps(doc, indent=1).encode() + b"\n")
    return why


def clear(repo: Repository, cid: str) -> bool:
    path = repo.path / FOLDER / f"{cid}.json"
    if path.exists():
        path.unlink()
        return True
    return False


def refuse_if_damaged(repo: Repository, cp: Checkpoint) -> None:
    """Restore and rollback stop here, before touching anything, for a damaged checkpoint."""
    why = reason(repo, cp.id)
    if why is not None:
        raise IntegrityError(
            f"checkpoint {cp.display_name} is damaged and cannot be restored: {why} "
            "('safepoint repair' found its data gone and could not heal it)"
        )


def all_reasons(repo: Repository) -> dict[str, str]:
    """Every damaged checkpoint's id and reason (one directory listing: for ``list``)."""
    folder = repo.path / FOLDER
    if not folder.is_dir():
        return {}
    out = {}
    for path in folder.glob("*.json"):
        cid = path.name.removesuffix(".json")
        out[cid] = reason(repo, cid) or ""
    return out
