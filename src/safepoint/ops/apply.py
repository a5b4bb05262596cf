"""Applying a checkpoint onto the live site under a journal: the part of a rollback that
changes files, shared by ``rollback``, its undo and ``recover``.

stage (new contents under temporary names; a failure changes nothing) -> switch (renames
into place; a failure raises SwitchFailed for the caller to undo) -> tree cache and journal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from safepoint.diskspace import describe as describe_os_error
from safepoint.errors import IntegrityError, OperationalError, PendingRecoveryError, SafepointError
from safepoint.model.entry import IS_ROOT, order_key, parent_of
from safepoint.ops.delta import tree_delta
from safepoint.ops.protect import secure_replaced
from safepoint.ops.site import Site
from safepoint.ops.spare import spare
from safepoint.progress import Progress
from safepoint.restore.apply import discard_staged, remove_temp_files, stage_files, switch
from safepoint.restore.journal import Journal, read_journal, remove_journal, write_journal
from safepoint.restore.plan import Plan, plan_rollback
from safepoint.scan.tree import Tree, read_tree
from safepoint.store.records import Checkpoint

Warn = Callable[[str], None]


def apply_entries(
    site: Site,
    tree: Tree,
    target: Checkpoint,
    journal: Journal,
    *,
    plan: Plan | None = None,
    first_attempt: bool = False,
    progress: Progress | None = None,
    warn: Warn | None = None,
    on_switch: Callable[[], None] | None = None,
) -> Plan:
    """Bring the tracked tree from ``tree`` (as read just before) to the tracked entries of
    ``target`` under ``journal``, by ``plan`` (made from ``tree``) or a plan made here.

    Every file the plan overwrites or deletes is first made sure to be soundly stored (see
    ops/protect.py). Staging failures change no file of the site and are re-raised; the
    journal is removed only on a ``first_attempt`` (a rollback's first try, when the site is
    wholly as it was before): an undo or a recover leaves the site part-way, so its journal
    stays for the next ``recover``. A failure while switching leaves the journal and raises
    SwitchFailed."""
    repo = site.repository
    if plan is None:
        plan = plan_for(site, tree, target)
    if plan.empty:
        tree.save_cache()
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
        raise SwitchFailed(exc) from exc
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
    tree = read_tree(site.root, site.rules, site.repository.cache_path)
    remove_temp_files(site.root, tree.dirs)
    try:
        return apply_entries(site, tree, cp, journal, progress=progress, warn=warn)
    except SwitchFailed as failure:
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


class SwitchFailed(Exception):
    pass


def plan_for(site: Site, tree: Tree, target: Checkpoint) -> Plan:
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
    """The tree cache after a rollback: only the directories the plan touched are listed
    again, and the files it wrote keep the hash they were written from, so the next status or
    checkpoint reads nothing."""
    # The directories it made or restamped are the target's, recorded under the same rules:
    # the rules keep their names (whether one is a virtual environment is still looked at).
    same_rules = target.extra.get("rules") == site.rules.fingerprint
    ruled_in = [e.path for e in plan.mkdir + plan.dir_meta] if same_rules else []
    touched = plan.remove + plan.mkdir + plan.write + plan.link + plan.restamp + plan.dir_meta
    dirs = {parent_of(e.path) for e in touched} | {e.path for e in plan.mkdir}
    tree.update_cache(sorted(dirs, key=order_key), plan.write + plan.restamp, ruled_in)


def _describe(exc: BaseException | None, *, need: int | None = None) -> str:
    if isinstance(exc, OSError):
        return describe_os_error(exc, need=need)
    return str(exc)
