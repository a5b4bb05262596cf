"""``repair index``: rebuild the index from the packs alone; ``repair``: heal lost blobs
from the site or another pack, and mark the checkpoints that stay incomplete damaged.

The index is a cache of what the packs say (each pack record names its blob, codec and sizes),
so a damaged ``index.sqlite`` loses nothing: a new one is built beside it under the repository
lock and renamed over it. An interruption leaves the old index (and a ``.rebuild`` file the next
repair replaces) or the new one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from safepoint.errors import IntegrityError
from safepoint.ops.site import Site
from safepoint.ops.verify import verify_checkpoints
from safepoint.scan.hashing import file_pieces, read_stable
from safepoint.store import damage
from safepoint.store.pack import LARGE, Location, scan_pack
from safepoint.store.repository import Repository
from safepoint.store.writer import BlobWriter, FileChangedError, blob_hash


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
    site.local_only("repair")
    repo = site.repository
    packs, blobs, problems = repo.rebuild_index()
    known = repo.index.known(bytes.fromhex(cp.manifest) for cp in repo.checkpoints())
    unreadable = [cp.id for cp in repo.checkpoints() if bytes.fromhex(cp.manifest) not in known]
    return IndexRepair(packs, blobs, problems, unreadable)


@dataclass
class Repair:
    """What ``safepoint repair`` did: ``healed`` blobs (where from), checkpoints newly marked
    ``damaged`` (id -> reason), and damage notes it removed because the checkpoint is whole."""

    checked: int = 0
    healed: dict[str, str] = field(default_factory=dict)  # blob hex -> "the site: PATH" | "pack P"
    damaged: dict[str, str] = field(default_factory=dict)
    cleared: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged


def repair(site: Site) -> Repair:
    """Heal each missing or damaged blob the checkpoints need from another copy: a record in
    another pack (one the index does not point to), or a file of the site at the path that
    held it, when it still hashes to the same content. A checkpoint still missing data is
    marked damaged (store/damage.py); one found whole loses its old damage note. Under the
    lock, whose upkeep first forgets the blobs of packs that are gone."""
    site.local_only("repair")
    repo = site.repository
    result = Repair()
    with repo.lock():
        checkpoints = repo.checkpoints()
        result.checked = len(checkpoints)
        report = verify_checkpoints(repo, checkpoints)
        copies = _other_copies(repo, set(report.lost))
        writer = repo.writer()
        with writer:
            for blob_id, users in report.lost.items():
                source = _heal_from_pack(repo, copies.get(blob_id, []))
                if source is None:
                    source = _heal_from_site(site, writer, blob_id, [p for _, p in users])
                if source is not None:
                    result.healed[blob_id.hex()] = source
            writer.commit()
        healed = {bytes.fromhex(b) for b in result.healed}
        lost: dict[str, list[str]] = {}
        for cid, problems in report.damaged.items():
            lost[cid] = ["(manifest)" for p in problems if p.startswith("(manifest)")]
        for blob_id, users in report.lost.items():
            if blob_id not in healed:
                for cid, path in users:
                    lost.setdefault(cid, []).append(path)
        for cp in checkpoints:
            if lost.get(cp.id):
                result.damaged[cp.id] = damage.mark(repo, cp.id, lost[cp.id])
            elif damage.clear(repo, cp.id):
                result.cleared.append(cp.id)
    return result


def _other_copies(repo: Repository, wanted: set[bytes]) -> dict[bytes, list[Location]]:
    """Records of ``wanted`` blobs in any pack on disk, read from the packs' headers."""
    found: dict[bytes, list[Location]] = {}
    if not wanted:
        return found
    for path in sorted(repo.packs_dir.glob("*/*.pack")):
        try:
            for loc in scan_pack(path):
                if loc.blob_id in wanted:
                    found.setdefault(loc.blob_id, []).append(loc)
        except (IntegrityError, OSError):
            continue  # a damaged pack: the records before the damage were seen
    return found


def _heal_from_pack(repo: Repository, copies: list[Location]) -> str | None:
    for loc in copies:
        try:
            content = repo.content(loc)
            if not isinstance(content, bytes):
                for _ in content:
                    pass
        except (IntegrityError, OSError):
            continue
        repo.index.add([loc], replace=True)
        return f"pack {loc.pack}"
    return None


def _heal_from_site(
    site: Site, writer: BlobWriter, blob_id: bytes, paths: list[str]
) -> str | None:
    for path in dict.fromkeys(paths):
        file = os.path.join(site.root, path)
        try:
            size = os.lstat(file).st_size
            if size > LARGE:
                digest = hashlib.sha256()
                for piece in file_pieces(file):
                    digest.update(piece)
                if digest.digest() == blob_id:
                    writer.add_file(blob_id, size, file_pieces(file), force=True)
                    return f"the site: {path}"
            else:
                data, st = read_stable(file)
                if st is not None and blob_hash(data) == blob_id:
                    writer.add(blob_id, data, force=True)
                    return f"the site: {path}"
        except (OSError, FileChangedError):
            continue
    return None
