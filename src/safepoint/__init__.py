"""safepoint: checkpoints and verified one-command rollback for a directory-deployed site.

The Python API that the command line is a thin layer over, for programs that want to
checkpoint without shelling out (a deploy script, an assistant about to edit code)::

    import safepoint

    with safepoint.open_site("/var/www/myapp") as site:
        cp = safepoint.create_checkpoint(site, label="before-upgrade", note="...").checkpoint
        for c in safepoint.list_checkpoints(site):
            print(c.short_id, c.label, c.created)
        safepoint.restore_checkpoint(site, "before-upgrade", "/tmp/clean")

Errors are ``safepoint.SafepointError`` subclasses carrying the CLI's exit code.
"""

from __future__ import annotations

import os
from pathlib import Path

from safepoint.errors import ExitStatus, SafepointError
from safepoint.ops.create import CreateResult, create_checkpoint
from safepoint.ops.init import InitResult, init_site
from safepoint.ops.refs import resolve
from safepoint.ops.site import Site, open_site
from safepoint.ops.verify import VerifyReport, verify_checkpoints
from safepoint.progress import Progress
from safepoint.restore.materialize import restore_to
from safepoint.store.records import Checkpoint

__version__ = "0.1.0"


def list_checkpoints(site: Site) -> list[Checkpoint]:
    """All checkpoints, newest first."""
    return site.repository.checkpoints()


def find_checkpoint(site: Site, ref: str) -> Checkpoint:
    """The checkpoint ``ref`` names: id, unique prefix, label, ``latest`` or ``good``."""
    return resolve(ref, site.repository.checkpoints())


def restore_checkpoint(
    site: Site, ref: str, target: str | os.PathLike[str], *, progress: Progress | None = None
) -> Checkpoint:
    """Write checkpoint ``ref`` into ``target``, which must be empty or absent."""
    cp = find_checkpoint(site, ref)
    restore_to(site.repository, site.repository.load_manifest(cp), Path(target), progress=progress)
    return cp


__all__ = [
    "Checkpoint",
    "CreateResult",
    "ExitStatus",
    "InitResult",
    "SafepointError",
    "Site",
    "VerifyReport",
    "create_checkpoint",
    "find_checkpoint",
    "init_site",
    "list_checkpoints",
    "open_site",
    "restore_checkpoint",
    "verify_checkpoints",
]
