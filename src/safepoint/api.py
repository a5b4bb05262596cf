"""The small API functions that are not an operation module of their own."""

from __future__ import annotations

import os

from safepoint.ops import restore_to
from safepoint.ops.refs import resolve
from safepoint.ops.site import Site
from safepoint.progress import Progress
from safepoint.store.records import Checkpoint


def list_checkpoints(site: Site) -> list[Checkpoint]:
    """All checkpoints, newest first."""
    return site.repository.checkpoints()


def find_checkpoint(site: Site, ref: str) -> Checkpoint:
    """The checkpoint ``ref`` names: id, unique prefix, label, ``latest`` or ``good``."""
    return resolve(ref, site.repository.checkpoints())


def restore_checkpoint(
    site: Site,
    ref: str,
    target: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    with_db: bool = False,
) -> Checkpoint:
    """Write checkpoint ``ref`` into ``target``, which must be empty or absent (the rules:
    ``ops/restore_to.py``, as ``safepoint restore REF --to DIR``); returns the checkpoint."""
    result = restore_to.restore_checkpoint(site, ref, target, progress=progress, with_db=with_db)
    return result.checkpoint
