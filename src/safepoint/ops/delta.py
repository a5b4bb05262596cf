"""What differs between the tree on disk and a checkpoint, found chunk by chunk.

The tree's manifest chunks (``Tree.chunks``) and a checkpoint's are cut at the same
content-defined boundaries, so a chunk both hold is the same run of identical entries on both
sides: only the other chunks are decoded and compared. A rollback of ten files reads a few
chunks of the target and plans over a few hundred entries, whatever the size of the site.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from safepoint.ops.site import Site
from safepoint.ops.tree import Tree
from safepoint.restore.plan import filter_target
from safepoint.scan.entry import Entry
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
    it was made under other rules (they must be filtered one by one), as when its manifest
    predates tree order."""
    repo = site.repository
    theirs = chunk_ids(repo.read_blob(bytes.fromhex(cp.manifest)))
    if theirs is None or (tracked and cp.extra.get("rules") != site.rules.fingerprint):
        whole = tracked_entries(site, cp) if tracked else repo.load_manifest(cp)
        return Delta(tree.entries, whole, 0)
    in_theirs = set(theirs)
    in_mine: set[str] = set()
    current: list[Entry] = []
    shared = 0
    for chunk, n in tree.chunks():
        chunk_id = hashlib.sha256(chunk).hexdigest()
        in_mine.add(chunk_id)
        if chunk_id in in_theirs:
            shared += n
        else:
            current.extend(decode_chunk(chunk))
    target: list[Entry] = []
    for chunk_id in theirs:
        if chunk_id not in in_mine:
            target.extend(decode_chunk(repo.read_blob(bytes.fromhex(chunk_id))))
    return Delta(current, target, shared)
