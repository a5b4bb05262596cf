"""Forgetting checkpoints (a soft delete) and bringing them back.

``forget`` moves a record from ``checkpoints/`` to ``forgotten/`` by a rename (its bytes, and
so its id, unchanged; its marks stay in ``marks/``): the checkpoint leaves the list, the
references, the bases of ``status`` and the targets of ``rollback``, but its data stays until
the next ``gc``, and ``undelete`` renames it back. Each move is one rename with both
directories fsynced: an interruption leaves every record in one place or the other.

Never forgotten: the checkpoint ``head.json`` names (the tree last matched it; ``status``
compares with it) and the target and safety checkpoint of a pending rollback journal
(``recover`` needs them), not even with ``force``; without ``force``, neither a pinned
checkpoint nor the newest known-good one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from safepoint.errors import IntegrityError, UsageError
from safepoint.ops.refs import resolve
from safepoint.ops.site import Site
from safepoint.restore.journal import read_journal
from safepoint.store import state
from safepoint.store.records import GOOD, Checkpoint
from safepoint.store.repository import Repository

# Why a checkpoint must stay (the reasons ``prune --dry-run`` prints).
PINNED, NEWEST_GOOD, HEAD = "pinned", "newest known-good", "the tree last matched it"
JOURNAL = "a pending rollback needs it"
FORCEABLE = (PINNED, NEWEST_GOOD)


def protected(repo: Repository, checkpoints: Sequence[Checkpoint]) -> dict[str, str]:
    """id -> why it must stay, for ``checkpoints`` (newest first, as listed)."""
    out: dict[str, str] = {}
    for cp in checkpoints:
        if cp.marks.pinned:
            out[cp.id] = PINNED
    # Each host's newest known-good: a prune on one host of a shared repository must not take
    # away the checkpoint another host's bare rollback would go to.
    newest_good: dict[str | None, str] = {}
    for cp in checkpoints:
        for mark in cp.marks.hosts or (cp.marks,):
            if mark.health == GOOD:
                newest_good.setdefault(mark.health_host, cp.id)
    for cid in newest_good.values():
        out.setdefault(cid, NEWEST_GOOD)
    head = repo.head()
    if head is not None:
        out[head] = HEAD
    for path in state.journals(repo.path, repo.journal_path):  # every root's (store/state.py)
        try:
            journal = read_journal(path)
        except IntegrityError:
            journal = None  # a damaged journal names nothing we could trust; writers refuse
        if journal is not None:
            out[journal.target] = out[journal.safety] = JOURNAL
    return out


@dataclass(frozen=True)
class ForgetResult:
    checkpoints: list[Checkpoint]  # forgotten (or, with dry_run, that would be)
    dry_run: bool


def forget(
    site: Site, refs: Sequence[str], *, dry_run: bool = False, force: bool = False
) -> ForgetResult:
    """Forget the checkpoints ``refs`` name (all or none: every reference is resolved and
    every refusal made before the first record moves). Takes the repository lock."""
    repo = site.repository
    with repo.lock():
        listed = repo.checkpoints()
        chosen: dict[str, Checkpoint] = {}
        for ref in refs:
            cp = resolve(ref, listed)
            chosen.setdefault(cp.id, cp)
        keep = protected(repo, listed)
        for cp in chosen.values():
            refuse_unless_forgettable(cp, keep.get(cp.id), force=force)
        if not dry_run:
            for cp in chosen.values():
                repo.forget(cp)
    return ForgetResult(list(chosen.values()), dry_run)


def refuse_unless_forgettable(cp: Checkpoint, why: str | None, *, force: bool) -> None:
    if why is None or (force and why in FORCEABLE):
        return
    hint = " (--force forgets it anyway)" if why in FORCEABLE else ""
    raise UsageError(f"checkpoint {cp.display_name} is kept: {why}; nothing was forgotten{hint}")


def undelete(site: Site, ref: str) -> Checkpoint:
    """Bring back the forgotten checkpoint ``ref`` names (resolved among the forgotten ones:
    an id, a prefix, or a label). Takes the repository lock."""
    repo = site.repository
    with repo.lock():
        gone = repo.checkpoints(forgotten=True)
        if not gone:
            raise UsageError("no forgotten checkpoints (gc drops them for good)")
        cp = resolve(ref, gone)
        repo.undelete(cp)
        return cp
