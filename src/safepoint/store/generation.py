"""``gc.json``: how a reader tells that a gc removed packs after it opened the repository.

Readers take no lock, so a ``restore --to`` or a ``verify`` may look a blob up, and a gc may
then move that blob to a new pack and delete the old one. The reader first looks the blob up
again (a repacked blob is found in its new pack, and the read finishes correctly); when the
blob is gone for good, it compares ``gc.json`` with what it saw when it opened the repository.
gc replaces the file (atomically, so with a new inode) before it deletes the first pack, so a
changed file means "the repository changed under this command": exit 1, run it again. An
unchanged file means the pack was lost some other way: damage, exit 3.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from safepoint.errors import OperationalError
from safepoint.store.atomic import write_atomic
from safepoint.store.records import now_iso

NAME = "gc.json"

Seen = tuple[int, int] | None


class RepositoryChangedError(OperationalError):
    """A gc removed data this command had looked up after it opened the repository."""


def seen(repo_path: Path) -> Seen:
    try:
        st = os.stat(repo_path / NAME)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def announce(repo_path: Path) -> None:
    """Called by gc before it deletes anything a reader may be using."""
    write_atomic(repo_path / NAME, json.dumps({"gc_started": now_iso()}).encode() + b"\n")


def check_unchanged(repo_path: Path, before: Seen) -> None:
    if seen(repo_path) != before:
        raise RepositoryChangedError(
            "the repository changed under this command (gc?); run it again"
        )
