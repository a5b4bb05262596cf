"""safepoint: checkpoints and verified one-command rollback for a directory-deployed site.

The Python API that the command line is a thin layer over, for programs that want to
checkpoint without shelling out (a deploy script, an assistant about to edit code)::

    import safepoint

    with safepoint.open_site("/var/www/myapp") as site:
        cp = safepoint.create_checkpoint(site, label="before-upgrade", note="...").checkpoint
        for c in safepoint.list_checkpoints(site):
            print(c.short_id, c.label, c.created)
        safepoint.restore_checkpoint(site, "before-upgrade", "/tmp/clean")
        result = safepoint.rollback(site, "before-upgrade")  # reload, hooks, health checks
        if result.undone:  # unhealthy: the safety checkpoint was put back (the CLI exits 4)
            print(result.undo_summary())

        with safepoint.change(site, label="edit views") as change:  # a guarded change
            ...  # edit files; an exception here rolls back and is re-raised
        if not change.result.ok:  # health failed: rolled back (not raised)
            print(change.result.summary())

Errors are ``safepoint.SafepointError`` subclasses carrying the CLI's exit code; an unhealthy
rollback that was undone is not an error but a result (``RollbackResult.undone``).
``docs/API.md`` lists every name with what it returns, and a worked example: an assistant that
checkpoints, edits, checks health and rolls back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from safepoint.lazy import lazy_exports
from safepoint.version import __version__ as __version__

# Names are imported on first use (PEP 562): the command line imports this package too, and a
# quick "safepoint status" should not load every operation.
_EXPORTS = {
    "Checkpoint": "safepoint.store.records",
    "ChangeResult": "safepoint.ops.change",
    "CreateResult": "safepoint.ops.create",
    "ExitStatus": "safepoint.errors",
    "InitResult": "safepoint.ops.init",
    "SafepointError": "safepoint.errors",
    "Site": "safepoint.ops.site",
    "VerifyReport": "safepoint.ops.verify",
    "change": "safepoint.ops.change",
    "create_checkpoint": "safepoint.ops.create",
    "find_checkpoint": "safepoint.api",
    "init_site": "safepoint.ops.init",
    "list_checkpoints": "safepoint.api",
    "open_site": "safepoint.ops.site",
    "restore_checkpoint": "safepoint.api",
    "rollback": "safepoint.ops.rollback",
    "set_mark": "safepoint.ops.marks",
    "verify_checkpoints": "safepoint.ops.verify",
}

__all__ = [
    "ChangeResult",
    "Checkpoint",
    "CreateResult",
    "ExitStatus",
    "InitResult",
    "SafepointError",
    "Site",
    "VerifyReport",
    "change",
    "create_checkpoint",
    "find_checkpoint",
    "init_site",
    "list_checkpoints",
    "open_site",
    "restore_checkpoint",
    "rollback",
    "set_mark",
    "verify_checkpoints",
]

if TYPE_CHECKING:
    from safepoint.api import find_checkpoint, list_checkpoints, restore_checkpoint
    from safepoint.errors import ExitStatus, SafepointError
    from safepoint.ops.change import ChangeResult, change
    from safepoint.ops.create import CreateResult, create_checkpoint
    from safepoint.ops.init import InitResult, init_site
    from safepoint.ops.marks import set_mark
    from safepoint.ops.rollback import rollback
    from safepoint.ops.site import Site, open_site
    from safepoint.ops.verify import VerifyReport, verify_checkpoints
    from safepoint.store.records import Checkpoint


__getattr__ = lazy_exports("safepoint", globals(), _EXPORTS)
