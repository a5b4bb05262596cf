"""Rollback: bring the site back to a checkpoint in place.

safety checkpoint of the current tree -> plan -> journal -> stage -> switch -> journal removed.
A failure while staging leaves the site untouched; a failure while switching is undone at once
by applying the safety checkpoint; an interruption (kill -9, power loss) leaves the journal, and
``safepoint recover`` finishes the rollback or returns to the safety checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace

from safepoint.config import DatabaseConfig
from safepoint.diskspace import describe as disk_describe
from safepoint.errors import (
    BadReferenceError,
    IntegrityError,
    OperationalError,
    SafepointError,
)
from safepoint.ops.apply import (
    SwitchFailed,
    apply_entries,
    plan_for,
    restore_from_disk,
    undo_after_failure,
)
from safepoint.ops.create import CreateResult, refuse_if_pending, take_checkpoint
from safepoint.ops.database import (
    database_for_rollback,
    database_restored,
    put_back_database,
    restored_file,
)
from safepoint.ops.history import record_rollback
from safepoint.ops.marks import describe, describe_mark
from safepoint.ops.migrations import MigrationOptions, check_schema
from safepoint.ops.protect import secure_manifest
from safepoint.ops.prove import Proof, ProofOptions, check_proof_setup, mark_health, prove
from safepoint.ops.prune import prune_after_rollback
from safepoint.ops.refs import resolve
from safepoint.ops.site import Site
from safepoint.ops.spare import not_restored
from safepoint.progress import Progress
from safepoint.restore.journal import Journal
from safepoint.restore.plan import Plan
from safepoint.scan.tree import Tree, read_tree
from safepoint.store.damage import refuse_if_damaged
from safepoint.store.records import BAD, BY_ROLLBACK, SAFETY, Checkpoint

Warn = Callable[[str], None]


@dataclass
class RollbackResult:
    target: Checkpoint
    plan: Plan
    safety: Checkpoint | None = None
    seconds: float = 0.0
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    proof: Proof | None = None  # hooks and health after the files changed
    undone: bool = False  # the target was unhealthy and the safety checkpoint put back
    undo_proof: Proof | None = None
    # (path, what) left as it is: excluded, found in the site (ops/spare.py)
    not_restored: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "target": self.target.id,
            "label": self.target.label,
            "dry_run": self.dry_run,
            "written": len(self.plan.write) + len(self.plan.link),
            "removed": len(self.plan.remove),
            "created_dirs": len(self.plan.mkdir),
            "restamped": len(self.plan.restamp),
            "unchanged": self.plan.unchanged,
            "safety": self.safety.id if self.safety else None,
            "seconds": round(self.seconds, 3),
            "paths": self.plan.steps(),
            "warnings": self.warnings,
            "not_restored": [{"path": p, "what": w} for p, w in self.not_restored],
            "spared": [{"path": p, "why": w} for p, w in self.plan.spared],
            "health": self.proof.to_json() if self.proof else None,
            "undone": self.undone,
            "undo_health": self.undo_proof.to_json() if self.undo_proof else None,
        }

    def undo_summary(self) -> str:
        """Why and how the rollback was undone (call only when ``undone``)."""
        assert self.proof is not None and self.undo_proof is not None and self.safety
        proof = self.undo_proof
        now = "healthy again" if proof.ok else f"still failing: {proof.summary()}"
        return (
            f"health checks failed after rolling back to {self.target.short_id} "
            f"({self.proof.summary()}); the rollback was undone and the site is back where it "
            f"was (safety checkpoint {self.safety.short_id}), {now}"
        )


def default_target(
    checkpoints: list[Checkpoint], ref: str | None, *, warn: Warn | None = None
) -> Checkpoint:
    """``ref``, or the newest known-good checkpoint (never one marked bad). A named checkpoint
    that is marked bad is allowed, with a warning: the operator may know better."""
    if ref is not None:
        target = resolve(ref, checkpoints)
        if target.marks.health == BAD and warn is not None:
            marked = describe_mark(target.marks)
            warn(f"{describe(target)} is marked {marked}; rolling back to it as asked")
        return target
    try:
        return resolve("good", checkpoints)
    except BadReferenceError:
        # Never suggest a reference here: 'latest' or a safety checkpoint may be the broken tree.
        raise BadReferenceError(
            "no known-good checkpoint to roll back to; see 'safepoint list' and name one "
            "('safepoint rollback REF'), or mark one with 'safepoint mark REF good'"
        ) from None


def safety_label(target: Checkpoint) -> str:
    """Flat, never nested: a safety checkpoint's own label is not repeated in the next one."""
    name = target.label if target.label and target.kind != SAFETY else target.short_id
    return f"safety: before rollback to {name}"


def rollback(
    site: Site,
    ref: str | None,
    *,
    dry_run: bool = False,
    confirm: Callable[[RollbackResult], bool] | None = None,
    progress: Progress | None = None,
    warn: Warn | None = None,
    check_health: bool = True,
    hook_output: Callable[[str], None] | None = None,
    proof_options: ProofOptions | None = None,
    on_switch: Callable[[], None] | None = None,
    migrations: MigrationOptions | None = None,
    with_db: bool = False,
) -> RollbackResult:
    """Roll the site back to ``ref`` (default: the newest known-good checkpoint), reload the
    app, run the hooks, and prove it healthy; if it is not, put the safety checkpoint back,
    reload and run the hooks again and return with ``undone`` set (the command line exits 4:
    ``undo_summary`` says why). Never more than one undo.

    Only files that differ are written; the site's current tree is first kept as a safety
    checkpoint (``safety``). ``dry_run``: plan only, change nothing (``plan`` says what would
    change). ``check_health=False`` skips the checks (and so the undo), as ``--no-health``.
    Errors raise ``SafepointError`` subclasses (a bad ``ref``: exit code 2; the lock held:
    1); a crash mid-way leaves a journal that ``safepoint recover`` finishes.

    ``confirm`` is shown the planned changes and may refuse (OperationalError "aborted");
    the plan confirmed is the plan applied (see ``_confirmed``).
    ``on_switch`` is called when the first file of the site is about to change: an error
    raised before that call left the site as it was. ``migrations`` says what to do when the
    database holds migrations the target does not know (ops/migrations.py; default: refuse).

    ``with_db`` brings the database back to the target's snapshot too, before the files are
    switched (ops/database.py); the safety checkpoint then holds the live database's snapshot,
    and every undo puts it back.
    """
    repo = site.repository
    warnings: list[str] = []

    def note(msg: str) -> None:
        warnings.append(msg)
        if warn:
            warn(msg)

    started = time.monotonic()
    with repo.lock(), ExitStack() as stack:
        refuse_if_pending(site)
        target = default_target(repo.checkpoints(), ref, warn=note)
        refuse_if_damaged(repo, target)
        database = database_for_rollback(site, target, with_db=with_db)
        if not dry_run:
            check_proof_setup(site, proof_options)  # before any file changes
        if database is not None:  # the snapshot brings the target's migrations back with it
            migrations = replace(migrations or MigrationOptions(), with_db=True)
        schema = check_schema(site, target, migrations, dry_run=dry_run, warn=note)
        confirmed: tuple[Tree, Plan] | None = None
        if dry_run or confirm is not None:
            current = read_tree(site.root, site.rules, repo.cache_path, progress=progress)
            confirmed = current, plan_for(site, current, target)
            preview = RollbackResult(
                target,
                confirmed[1],
                dry_run=dry_run,
                warnings=warnings,
                not_restored=not_restored(current, database=restored_file(site, database)),
            )
            if dry_run:
                preview.seconds = time.monotonic() - started
                return preview
            asked = time.monotonic()
            if confirm is not None and not confirm(preview):
                raise OperationalError("rollback aborted; nothing was changed")
            started += time.monotonic() - asked  # the time at the prompt is not the rollback's
        stack.enter_context(schema)  # --migrate: reversed now; put forward again on an error
        safety = take_checkpoint(
            site,
            label=safety_label(target),
            note=None,
            kind="safety",
            extra={"rollback_to": target.id},
            progress=progress,
            keep_cache=False,  # the apply below writes the cache for the tree it leaves
            database=database,
        )
        planned = _confirmed(site, safety, target, confirmed) if confirmed else None
        secure_manifest(repo, safety.tree, safety.checkpoint.manifest, target.manifest)
        journal = Journal.new(target=target.id, safety=safety.checkpoint.id)
        with database_restored(site, database, target, safety.checkpoint):
            try:
                plan = apply_entries(
                    site,
                    safety.tree,
                    target,
                    journal,
                    plan=planned,
                    first_attempt=True,
                    progress=progress,
                    warn=note,
                    on_switch=on_switch,
                )
            except SwitchFailed as failure:
                undo_after_failure(site, journal, safety.checkpoint, failure, warn=note)
        repo.set_head(target)
        schema.after_switch()
        result = RollbackResult(
            target,
            plan,
            safety.checkpoint,
            warnings=warnings,
            not_restored=not_restored(safety.tree, database=restored_file(site, database)),
        )
        result.proof = prove(
            site,
            run_health=check_health,
            run_hook=not plan.empty,
            hook_output=hook_output,
            options=proof_options,
        )
        # An unhealthy target is marked bad before the undo: bare rollbacks and guard skip it.
        result.target = mark_health(site, target, result.proof, how=BY_ROLLBACK)
        try:
            if not result.proof.ok:
                _undo_unhealthy(
                    site,
                    result,
                    safety.checkpoint,
                    hook_output=hook_output,
                    warn=note,
                    options=proof_options,
                    before_proof=schema.after_undo,
                    database=database,
                )
        finally:  # an undone rollback reports its time too (it said "in 0.00s")
            result.seconds = time.monotonic() - started
            record_rollback(site, result)  # its outcome, for the history page (ops/history.py)
        prune_after_rollback(site, note)  # [retention] auto; the journal is gone by now
        return result


def _undo_unhealthy(
    site: Site,
    result: RollbackResult,
    safety: Checkpoint,
    *,
    hook_output: Callable[[str], None] | None,
    warn: Warn,
    options: ProofOptions | None = None,
    before_proof: Callable[[], None] | None = None,
    database: DatabaseConfig | None = None,
) -> None:
    """The rollback's target is unhealthy (or its app would not reload): apply the safety
    checkpoint back, once (its database snapshot too, with ``database``), and reload the app
    with it (starting it if it died)."""
    assert result.proof is not None
    journal = Journal.new(target=safety.id, safety=safety.id, purpose="undo")
    try:
        put_back_database(site, database, safety)
        restore_from_disk(site, safety, journal, warn=warn)
    except (SafepointError, OSError) as exc:
        # OSError: the undo's journal could not be written (the root's state folder is on the
        # site's disk, which may be full); then no file was changed by the undo.
        why = disk_describe(exc) if isinstance(exc, OSError) else str(exc)
        failed = IntegrityError if isinstance(exc, IntegrityError) else OperationalError
        raise failed(
            f"health checks failed after rolling back to {result.target.short_id} "
            f"({result.proof.summary()}), and undoing it failed: {why}; the safety checkpoint "
            f"is {safety.short_id}"
        ) from None
    site.repository.set_head(safety)
    result.undone = True
    if before_proof is not None:  # the schema goes back with the files (ops/migrations.py)
        before_proof()
    result.undo_proof = prove(site, hook_output=hook_output, options=options)


def _confirmed(
    site: Site, safety: CreateResult, target: Checkpoint, confirmed: tuple[Tree, Plan]
) -> Plan:
    """The plan to apply after the user confirmed ``confirmed`` (the tree read for the prompt,
    and the plan shown). The safety checkpoint was read after the answer, so it holds any
    change made while the prompt waited: when its tree is the one shown, the plan shown is
    applied as it is; else the plan is made again from it (the undo goes back to it), and
    applied only if it takes the steps the user agreed to."""
    shown_tree, shown = confirmed
    if safety.tree.same_as(shown_tree):
        return shown
    plan = plan_for(site, safety.tree, target)
    if (plan.steps(), plan.spared) != (shown.steps(), shown.spared):
        raise OperationalError(
            "the site changed while the rollback waited for confirmation, and the rollback "
            "would now change other files; nothing in the site was changed (the safety "
            f"checkpoint {safety.checkpoint.short_id} holds it as it is): run it again"
        )
    return plan

