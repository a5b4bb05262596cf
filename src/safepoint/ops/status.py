"""``status`` and ``diff``: what differs between checkpoints and the working tree."""

from __future__ import annotations

from dataclasses import dataclass

from safepoint.errors import BadReferenceError
from safepoint.ops.refs import resolve
from safepoint.ops.site import Site
from safepoint.ops.tree import read_tree
from safepoint.restore.files import IS_ROOT
from safepoint.restore.plan import Changes, compare
from safepoint.scan.entry import Entry
from safepoint.store.records import Checkpoint


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a checkpoint, or the working tree (checkpoint None)."""

    checkpoint: Checkpoint | None
    entries: list[Entry]

    @property
    def name(self) -> str:
        if self.checkpoint is None:
            return "working tree"
        cp = self.checkpoint
        return f"{cp.short_id}{f' ({cp.label})' if cp.label else ''}"


def base_checkpoint(site: Site) -> Checkpoint:
    """What ``status`` compares with: the checkpoint the tree last matched, else the newest."""
    checkpoints = site.repository.checkpoints()
    if not checkpoints:
        raise BadReferenceError("the repository has no checkpoints yet; run 'safepoint create'")
    head = site.repository.head()
    return next((c for c in checkpoints if c.id == head), checkpoints[0])


def checkpoint_side(site: Site, ref: str) -> Side:
    cp = resolve(ref, site.repository.checkpoints())
    return Side(cp, site.repository.load_manifest(cp))


def working_tree_side(site: Site) -> Side:
    # The tree cache is not updated: it vouches only for content that is stored, so that a
    # checkpoint can trust it. Files changed since the last checkpoint are read again each time.
    return Side(None, read_tree(site).entries)


def diff_sides(site: Site, a: str | None, b: str | None) -> tuple[Side, Side, Changes]:
    """``diff``: A and B checkpoints; A and the working tree; or the status base and the tree."""
    if a:
        left = checkpoint_side(site, a)
    else:
        base = base_checkpoint(site)
        left = Side(base, site.repository.load_manifest(base))
    right = checkpoint_side(site, b) if b else working_tree_side(site)
    return left, right, compare(left.entries, right.entries, owner=IS_ROOT)
