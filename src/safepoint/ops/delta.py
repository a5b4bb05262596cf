"""What differs between the tree on disk and a checkpoint, or two checkpoints, found chunk by
chunk.

The tree's manifest chunks (``Tree.chunks``) and a checkpoint's are cut at the same
content-defined boundaries, so a chunk both hold is the same run of identical entries on both
sides: only the other chunks are decoded and compared. A rollback of ten files reads a few
chunks of the target and plans over a few hundred entries, whatever the size of the site.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from safepoint.model.entry import Entry
from safepoint.ops.site import Site
from safepoint.restore.plan import filter_target
from safepoint.scan.tree import Tree
from safepoint.store.manifest import chunk_ids, decode_chunk
from safepoint.store.records import Checkpoint


@dataclass(frozen=True)
class Delta:
    current: list[Entry]  # the tree's entries outside the chunks both sides hold
    target: list[Entry]  # the checkpoint's tracked entries outside them
    shared: int  # entries in chunks both hold (the same on both sides)


def tracked_entries(site: Site, cp: Checkpoint) -> list[Entry]:
    """The checkpoint's entries that the site's current rules track (see filter_target)."""
    entries = site.repository.load_manifest(cp)
    return filter_target(entries, site.rules, made_with=cp.extra.get("rules"))


def tree_delta(site: Site, tree: Tree, cp: Checkpoint, *, tracked: bool = True) -> Delta:
    """The entries of ``tree`` and ``cp`` that may differ, each side in tree order. With
    ``tracked``, the checkpoint's entries are those the current rules track: whole lists when
    it was made under other rules (they must be filtered one by one)."""
    repo = site.repository
    top = chunk_ids(repo.read_blob(bytes.fromhex(cp.manifest)))
    if tracked and cp.extra.get("rules") != site.rules.fingerprint:
        whole = tracked_entries(site, cp) if tracked else repo.load_manifest(cp)
        return Delta(tree.entries, whole, 0)
    theirs = set(top[0])
    mine: set[str] = set()
    current: list[Entry] = []
    shared = 0
    for chunk, n in tree.chunks():
        chunk_id = hashlib.sha256(chunk).hexdigest()
        mine.add(chunk_id)
        if chunk_id in theirs:
            shared += n
        else:
            current.extend(decode_chunk(chunk))
    return Delta(current, _chunks_outside(site, top[0], mine), shared)


def checkpoint_delta(site: Site, a: Checkpoint, b: Checkpoint) -> Delta:
    """The entries of checkpoints ``a`` (``current``) and ``b`` (``target``) that may differ,
    as they are recorded (not filtered by the rules)."""
    repo = site.repository
    top_a, top_b = (chunk_ids(repo.read_blob(bytes.fromhex(cp.manifest))) for cp in (a, b))
    in_a, in_b = set(top_a[0]), set(top_b[0])
    current = _chunks_outside(site, top_a[0], in_b)
    return Delta(current, _chunks_outside(site, top_b[0], in_a), top_a[1] - len(current))


def _chunks_outside(site: Site, ids: list[str], other: set[str]) -> list[Entry]:
    """The entries of the chunks ``ids`` that are not in ``other``, read from the repository."""
    out: list[Entry] = []
    for chunk_id in ids:
        if chunk_id not in other:
            out.extend(decode_chunk(site.repository.read_blob(bytes.fromhex(chunk_id))))
    return out
