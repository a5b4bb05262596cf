"""``status`` and ``diff``: what differs between checkpoints and the working tree."""

from __future__ import annotations

from dataclasses import dataclass, replace

from safepoint.errors import BadReferenceError
from safepoint.model.entry import IS_ROOT
from safepoint.ops.delta import checkpoint_delta, tree_delta
from safepoint.ops.refs import resolve
from safepoint.ops.site import Site
from safepoint.restore.journal import pending_recovery
from safepoint.restore.plan import Changes, compare
from safepoint.scan.tree import read_tree
from safepoint.store.records import Checkpoint


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a checkpoint, or the working tree (checkpoint None)."""

    checkpoint: Checkpoint | None

    @property
    def name(self) -> str:
        if self.checkpoint is None:
            return "working tree"
        cp = self.checkpoint
        return f"{cp.short_id}{f' ({cp.label})' if cp.label else ''}"


def base_checkpoint(site: Site) -> Checkpoint:
    """What ``status`` compares with: the checkpoint the tree last matched, else the newest."""
    checkpoints = site.repository.listed()  # built as looked at: the head is usually first
    if not checkpoints:
        raise BadReferenceError("the repository has no checkpoints yet; run 'safepoint create'")
    head = site.repository.head()
    return next((c for c in checkpoints if c.id == head), checkpoints[0])


def pending(site: Site) -> str | None:
    """Why the site may be part-way between two checkpoints (a rollback journal is pending),
    or None."""
    return pending_recovery(site.repository.journal_path)


def diff_sides(site: Site, a: str | None, b: str | None) -> tuple[Side, Side, Changes]:
    """``diff``: A and B checkpoints; A and the working tree; or the status base and the tree."""
    repo = site.repository
    left = resolve(a, repo.listed()) if a else base_checkpoint(site)
    if b:
        right = resolve(b, repo.listed())
        delta = checkpoint_delta(site, left, right)
        changes = compare(delta.current, delta.target, owner=IS_ROOT)
        return Side(left), Side(right), replace(changes, unchanged=changes.unchanged + delta.shared)
    # The tree cache is not updated: it vouches only for content that is stored, so that a
    # checkpoint can trust it. Files changed since the last checkpoint are read again each time.
    tree = read_tree(site.root, site.rules, site.repository.cache_path)
    delta = tree_delta(site, tree, left, tracked=False)
    changes = compare(delta.target, delta.current, owner=IS_ROOT)
    return Side(left), Side(None), replace(changes, unchanged=changes.unchanged + delta.shared)
