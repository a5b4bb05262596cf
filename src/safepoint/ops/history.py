"""What the history page shows besides checkpoints: a record of each rollback's outcome
(store/rollbacks.py), written by ``ops.rollback`` once the rollback has ended, whoever asked
for it (``rollback``, ``guard``, ``run``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from safepoint.ops.site import Site
from safepoint.store.records import now_iso, this_host
from safepoint.store.rollbacks import (
    HEALTHY,
    STILL_FAILING,
    UNCHECKED,
    UNDO_FAILED,
    UNDONE,
    RollbackRecord,
    write_rollback_record,
)

if TYPE_CHECKING:
    from safepoint.ops.rollback import RollbackResult


def outcome(result: RollbackResult) -> str:
    """How a rollback ended, in the words of the records."""
    proof = result.proof
    if proof is None or proof.ok:
        return HEALTHY if proof is not None and proof.proven else UNCHECKED
    if not result.undone:
        return UNDO_FAILED  # the undo raised before it was done
    return UNDONE if result.undo_proof is not None and result.undo_proof.ok else STILL_FAILING


def record_rollback(site: Site, result: RollbackResult) -> None:
    """Write the rollback's record. Advisory: a record that cannot be written (a full disk)
    must not turn a rollback that worked into a failure."""
    proof, undo = result.proof, result.undo_proof
    record = RollbackRecord(
        time=now_iso(),
        to=result.target.id,
        safety=result.safety.id if result.safety else None,
        outcome=outcome(result),
        health=proof.summary() if proof is not None else None,
        undo_health=undo.summary() if undo is not None else None,
        written=len(result.plan.write) + len(result.plan.link),
        removed=len(result.plan.remove),
        seconds=round(result.seconds, 3),
        host=this_host(),
    )
    try:
        write_rollback_record(site.repository.path, record)
    except OSError as exc:
        site.notify(f"could not write the rollback's record: {exc}")
