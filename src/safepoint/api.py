"""The small API functions that are not an operation module of their own."""

from __future__ import annotations

import os

from safepoint.ops import restore_to
from safepoint.ops.refs import resolve
from safepoint.ops.site import Site
from safepoint.progress import Progress
from safepoint.store.records import Checkpoint


def list_checkpoints(site: Site) -> list[Checkpoint]:
    """All checkpoints, newest first (safety and imported ones included: see ``kind``).
    Records that cannot be read are left out (``verify`` names them)."""
    return site.repository.checkpoints()


def find_checkpoint(site: Site, ref: str) -> Checkpoint:
    """The checkpoint ``ref`` names, tried in this order: a full id, ``latest`` (the newest
    that is not a safety checkpoint), ``good`` (the newest known-good), a unique id prefix of
    4 or more hex digits, a label (the newest checkpoint with it). Raises
    ``BadReferenceError`` (exit code 2) when nothing or more than one id matches."""
    return resolve(ref, site.repository.listed())


def restore_checkpoint(
    site: Site,
    ref: str,
    target: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    with_db: bool = False,
) -> Checkpoint:
    """Write checkpoint ``ref`` into ``target``, which must be empty or absent (the rules:
    ``ops/restore_to.py``, as ``safepoint restore REF --to DIR``); the site itself is not
    touched and no lock is taken. On any error, what was written into ``target`` is removed
    again. ``with_db``: its database snapshot too, never into the live database. Returns the
    checkpoint written."""
    result = restore_to.restore_checkpoint(site, ref, target, progress=progress, with_db=with_db)
    return result.checkpoint
