"""``repair index``: rebuild the index from the packs alone.

The index is a cache of what the packs say (each pack record names its blob, codec and sizes),
so a damaged ``index.sqlite`` loses nothing: a new one is built beside it under the repository
lock and renamed over it. An interruption leaves the old index (and a ``.rebuild`` file the next
repair replaces) or the new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from safepoint.ops.site import Site


@dataclass(frozen=True)
class IndexRepair:
    packs: int
    blobs: int
    problems: list[str]  # packs that could not be read whole (their readable records are kept)
    unreadable: list[str]  # checkpoints whose manifest is in no pack: 'verify' says more

    @property
    def ok(self) -> bool:
        return not (self.problems or self.unreadable)


def repair_index(site: Site) -> IndexRepair:
    repo = site.repository
    packs, blobs, problems = repo.rebuild_index()
    known = repo.index.known(bytes.fromhex(cp.manifest) for cp in repo.checkpoints())
    unreadable = [cp.id for cp in repo.checkpoints() if bytes.fromhex(cp.manifest) not in known]
    return IndexRepair(packs, blobs, problems, unreadable)
