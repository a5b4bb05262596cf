"""Rollback: bring the site back to a checkpoint in place.

safety checkpoint of the current tree -> plan -> journal -> stage -> switch -> journal removed.
A failure while staging leaves the site untouched; a failure while switching is undone at once
by applying the safety checkpoint; an interruption (kill -9, power loss) leaves the journal, and
``safepoint recover`` finishes the rollback or returns to the safety checkpoint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from stat import S_ISREG
from typing import NoReturn

from safepoint.diskspace import describe as describe_os_error
from safepoint.errors import (
    BadReferenceError,
    IntegrityError,
    OperationalError,
    PendingRecoveryError,
    SafepointError,
)
from safepoint.model.entry import FILE, IS_ROOT, order_key, parent_of
from safepoint.ops.create import refuse_if_pending, take_checkpoint
from safepoint.ops.delta import tree_delta
from safepoint.ops.marks import describe, describe_mark
from safepoint.ops.protect import secure_manifest, secure_replaced
from safepoint.ops.prove import Proof, ProofOptions, check_proof_setup, mark_health, prove
from safepoint.ops.refs import resolve
from safepoint.ops.site import Site
from safepoint.ops.spare import not_restored, spare
from safepoint.ops.tree import Tree, read_tree
from safepoint.progress import Progress
from safepoint.restore.apply import discard_staged, remove_temp_files, stage_files, switch
from safepoint.restore.journal import Journal, read_journal, remove_journal, write_journal
from safepoint.restore.plan import Plan, plan_rollback
from safepoint.scan.walk import Known
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
            "paths": {
                "write": [e.path for e in self.plan.write + self.plan.link],
                "remove": [e.path for e in self.plan.remove],
                "mkdir": [e.path for e in self.plan.mkdir],
                "restamp": [e.path for e in self.plan.restamp],
            },
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
) -> RollbackResult:
    """Roll the site back to ``ref`` (default: the newest known-good checkpoint), reload the
    app, run the hooks, and prove it healthy; if it is not, put the safety checkpoint back,
    reload and run the hooks again and return with ``undone`` set (the command line exits 4:
    ``undo_summary`` says why). Never more than one undo.

    ``confirm`` is shown the planned changes and may refuse (OperationalError "aborted").
    ``on_switch`` is called when the first file of the site is about to change: an error
    raised before that call left the site as it was.
    """
    repo = site.repository
    warnings: list[str] = []

    def note(msg: str) -> None:
        warnings.append(msg)
        if warn:
            warn(msg)

    started = time.monotonic()
    with repo.lock():
        refuse_if_pending(site)
        target = default_target(repo.checkpoints(), ref, warn=note)
        refuse_if_damaged(repo, target)
        if not dry_run:
            check_proof_setup(site, proof_options)  # before any file changes
        if dry_run or confirm is not None:
            current = read_tree(site, progress=progress)
            preview = RollbackResult(
                target,
                _plan(site, current, target),
                dry_run=dry_run,
                warnings=warnings,
                not_restored=not_restored(current),
            )
            if dry_run:
                preview.seconds = time.monotonic() - started
                return preview
            asked = time.monotonic()
            if confirm is not None and not confirm(preview):
                raise OperationalError("rollback aborted; nothing was changed")
            started += time.monotonic() - asked  # the time at the prompt is not the rollback's
        safety = take_checkpoint(
            site,
            label=safety_label(target),
            note=None,
            kind="safety",
            extra={"rollback_to": target.id},
            progress=progress,
            keep_cache=False,  # the apply below writes the cache for the tree it leaves
        )
        secure_manifest(repo, safety.tree, safety.checkpoint.manifest, target.manifest)
        journal = Journal.new(target=target.id, safety=safety.checkpoint.id)
        try:
            plan = apply_entries(
                site,
                safety.tree,
                target,
                journal,
                first_attempt=True,
                progress=progress,
                warn=note,
                on_switch=on_switch,
            )
        except _SwitchFailed as failure:
            undo_after_failure(site, journal, safety.checkpoint, failure, warn=note)
        repo.set_head(target)
        result = RollbackResult(
            target,
            plan,
            safety.checkpoint,
            warnings=warnings,
            not_restored=not_restored(safety.tree),
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
                )
        finally:  # an undone rollback reports its time too (it said "in 0.00s")
            result.seconds = time.monotonic() - started
        return result


def _undo_unhealthy(
    site: Site,
    result: RollbackResult,
    safety: Checkpoint,
    *,
    hook_output: Callable[[str], None] | None,
    warn: Warn,
    options: ProofOptions | None = None,
) -> None:
    """The rollback's target is unhealthy (or its app would not reload): apply the safety
    checkpoint back, once, and reload the app with it (starting it if it died)."""
    assert result.proof is not None
    journal = Journal.new(target=safety.id, safety=safety.id, purpose="undo")
    try:
        restore_from_disk(site, safety, journal, warn=warn)
    except SafepointError as exc:
        failed = IntegrityError if isinstance(exc, IntegrityError) else OperationalError
        raise failed(
            f"health checks failed after rolling back to {result.target.short_id} "
            f"({result.proof.summary()}), and undoing it failed: {exc}"
        ) from None
    site.repository.set_head(safety)
    result.undone = True
    result.undo_proof = prove(site, hook_output=hook_output, options=options)


def apply_entries(
    site: Site,
    tree: Tree,
    target: Checkpoint,
    journal: Journal,
    *,
    first_attempt: bool = False,
    progress: Progress | None = None,
    warn: Warn | None = None,
    on_switch: Callable[[], None] | None = None,
) -> Plan:
    """Bring the tracked tree from ``tree`` (as read just before) to the tracked entries of
    ``target`` under ``journal``.

    Every file the plan overwrites or deletes is first made sure to be soundly stored (see
    ops/protect.py). Staging failures change no file of the site and are re-raised; the
    journal is removed only on a ``first_attempt`` (a rollback's first try, when the site is
    wholly as it was before): an undo or a recover leaves the site part-way, so its journal
    stays for the next ``recover``. A failure while switching leaves the journal and raises
    _SwitchFailed."""
    repo = site.repository
    plan = _plan(site, tree, target)
    if plan.empty:
        tree.save_cache(site)
        remove_journal(repo.journal_path)
        return plan
    secure_replaced(repo, site.root, plan.replaced)
    write_journal(repo.journal_path, journal)
    existing = set(tree.dirs) - {""}
    try:
        staged = stage_files(
            repo, site.root, plan, existing, nonce=journal.nonce, progress=progress
        )
    except BaseException as exc:
        if first_attempt:
            remove_journal(repo.journal_path)  # the site is wholly as it was
        _staging_failed(exc, plan, first_attempt=first_attempt)
    if on_switch is not None:
        on_switch()
    try:
        switch(site.root, plan, staged, nonce=journal.nonce, warn=warn or (lambda _: None))
    except OSError as exc:
        discard_staged(staged.values())
        raise _SwitchFailed(exc) from exc
    except KeyboardInterrupt:
        raise PendingRecoveryError(
            "interrupted while files were being switched; run 'safepoint recover' to finish"
        ) from None
    _update_cache(site, tree, plan, target)
    remove_journal(repo.journal_path)
    return plan


def _staging_failed(exc: BaseException, plan: Plan, *, first_attempt: bool) -> NoReturn:
    """Re-raise a staging failure with what it means for the site and what to do."""
    if isinstance(exc, IntegrityError):
        after = "nothing in the site was changed" if first_attempt else _PART_WAY
        raise IntegrityError(f"{exc}; {after}") from None
    if isinstance(exc, OSError):
        why = _describe(exc, need=plan.write_bytes)
        after = "nothing in it was changed" if first_attempt else _PART_WAY
        raise OperationalError(f"cannot write the site ({why}); {after}") from None
    raise exc


def undo_after_failure(
    site: Site, journal: Journal, safety: Checkpoint, failure: Exception, *, warn: Warn
) -> NoReturn:
    """The switch failed half-way: return the site to its safety checkpoint now."""
    reason = failure.__cause__ or failure
    try:
        restore_from_disk(site, safety, journal, warn=warn)
        site.repository.set_head(safety)
    except (SafepointError, OSError) as exc:
        raise OperationalError(
            f"rollback failed ({_describe(reason)}) and undoing it failed too: {_describe(exc)}"
        ) from None
    raise OperationalError(
        f"rollback failed ({_describe(reason)}); the site was put back as it was "
        f"(safety checkpoint {safety.short_id})"
    )


def restore_from_disk(
    site: Site,
    cp: Checkpoint,
    journal: Journal,
    *,
    progress: Progress | None = None,
    warn: Warn | None = None,
) -> Plan:
    """Re-read the tree as it is now and bring it to ``cp`` (used to undo and to recover)."""
    tree = read_tree(site)
    remove_temp_files(site.root, tree.dirs)
    try:
        return apply_entries(site, tree, cp, journal, progress=progress, warn=warn)
    except _SwitchFailed as failure:
        raise OperationalError(
            f"cannot write the site ({_describe(failure.__cause__)}); {_PART_WAY}"
        ) from None


def recover_site(
    site: Site, *, progress: Progress | None = None, warn: Warn | None = None
) -> tuple[Journal | None, Checkpoint | None]:
    """Finish or undo an interrupted rollback. Returns (journal, checkpoint the site is now at),
    or (None, None) when nothing was pending."""
    repo = site.repository
    with repo.lock():
        journal = read_journal(repo.journal_path)
        if journal is None:
            return None, None
        checkpoints = repo.checkpoints()
        by_id = {c.id: c for c in checkpoints}
        target, safety = by_id.get(journal.target), by_id.get(journal.safety)
        for cp in (target, safety):
            if cp is None:
                continue
            try:
                restore_from_disk(site, cp, journal, progress=progress, warn=warn)
                repo.set_head(cp)
                return journal, cp
            except IntegrityError as exc:
                if warn:
                    warn(f"cannot bring the site to {cp.short_id}: {exc}")
        raise IntegrityError(
            "neither the rollback's target nor its safety checkpoint can be "
            "restored; the journal is kept"
        )


_PART_WAY = (
    "the site is still part-way through a rollback and the journal is kept; fix that, then run "
    "'safepoint recover'"
)


class _SwitchFailed(Exception):
    pass


def _plan(site: Site, tree: Tree, target: Checkpoint) -> Plan:
    delta = tree_delta(site, tree, target)
    plan = plan_rollback(
        site.root,
        delta.current,
        delta.target,
        owner=IS_ROOT,
        shared=delta.shared,
        same_dir=tree.dir_entry,
    )
    return spare(site, plan)  # what is on disk now, or stored as a database, is left alone


def _update_cache(site: Site, tree: Tree, plan: Plan, target: Checkpoint) -> None:
    """The tree cache after a rollback: only the directories the plan touched are read again,
    and the files it wrote keep the hash they were written from, so the next status or
    checkpoint reads nothing."""
    known: dict[str, Known] = {}
    for e in plan.write + plan.restamp:
        if e.kind != FILE:
            continue
        try:
            st = os.lstat(site.root / e.path)
        except OSError:
            continue
        if S_ISREG(st.st_mode) and st.st_size == e.size and e.blob:
            parent, _, name = e.path.rpartition("/")
            hit = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, e.blob)
            known.setdefault(parent, {})[name] = hit
    # The directories it made or restamped are the target's, recorded under the same rules:
    # the rules keep their names (whether one is a virtual environment is still looked at).
    kept: dict[str, set[str]] = {}
    if target.extra.get("rules") == site.rules.fingerprint:
        for e in plan.mkdir + plan.dir_meta:
            parent, _, name = e.path.rpartition("/")
            kept.setdefault(parent, set()).add(name)
    touched = plan.remove + plan.mkdir + plan.write + plan.link + plan.restamp + plan.dir_meta
    dirs = {parent_of(e.path) for e in touched} | {e.path for e in plan.mkdir}
    tree.update_cache(site, sorted(dirs, key=order_key), known, kept)


def _describe(exc: BaseException | None, *, need: int | None = None) -> str:
    if isinstance(exc, OSError):
        return describe_os_error(exc, need=need)
    return str(exc)
