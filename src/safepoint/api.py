"""The small API functions that are not an operation module of their own."""

from __future__ import annotations

import os
from pathlib import Path

from safepoint.ops.refs import resolve
from safepoint.ops.site import Site
from safepoint.progress import Progress
from safepoint.restore.materialize import restore_to
from safepoint.store.records import Checkpoint


def list_checkpoints(site: Site) -> list[Checkpoint]:
    """All checkpoints, newest first."""
    return site.repository.checkpoints()


def find_checkpoint(site: Site, ref: str) -> Checkpoint:
    """The checkpoint ``ref`` names: id, unique prefix, label, ``latest`` or ``good``."""
    return resolve(ref, site.repository.listed())


def restore_checkpoint(
    site: Site, ref: str, target: str | os.PathLike[str], *, progress: Progress | None = None
) -> Checkpoint:
    """Write checkpoint ``ref`` into ``target``, which must be empty or absent."""
    cp = find_checkpoint(site, ref)
    restore_to(site.repository, site.repository.load_manifest(cp), Path(target), progress=progress)
    return cp
