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
from safepoint.ops.gc import remote_lock_held
from safepoint.ops.site import Site
from safepoint.ops.verify import VerifyReport, verify_checkpoints
from safepoint.scan.hashing import file_pieces, read_stable
from safepoint.store import damage
from safepoint.store.cached import CachedRepository
from safepoint.store.index import rebuild_index
from safepoint.store.pack import LARGE, Location, scan_pack
from safepoint.store.remote_repair import audit, live_ids, publish, sweep_orphans
from safepoint.store.remote_sync import SEEN_PACKS
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
    """On a remote repository: missing or unreadable index objects are written again from
    their packs too (see ``_repair_index_remote``)."""
    if site.config.url is not None:
        packs, blobs, problems = _repair_index_remote(site)
    else:
        packs, blobs, problems = site.repository.rebuild_index()
    repo = site.repository
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
    replaced: list[str] = field(default_factory=list)  # remote packs damaged or missing there
    salvaged: int = 0  # good blobs of those, copied into new packs

    @property
    def ok(self) -> bool:
        return not self.damaged


def repair(site: Site) -> Repair:
    """Heal each missing or damaged blob the checkpoints need from another copy: a record in
    another pack (one the index does not point to), or a file of the site at the path that
    held it, when it still hashes to the same content. A checkpoint still missing data is
    marked damaged (store/damage.py); one found whole loses its old damage note. Under the
    lock, whose upkeep first forgets the blobs of packs that are gone."""
    repo = site.repository
    if isinstance(repo, CachedRepository):
        return _repair_remote(site, repo)
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
        lost = _still_lost(report, result)
        for cp in checkpoints:
            if lost.get(cp.id):
                result.damaged[cp.id] = damage.mark(repo, cp.id, lost[cp.id])
            elif damage.clear(repo, cp.id):
                result.cleared.append(cp.id)
    return result


def _still_lost(report: VerifyReport, result: Repair) -> dict[str, list[str]]:
    """Checkpoint id -> what it still misses (paths, "(manifest)") after healing."""
    healed = {bytes.fromhex(b) for b in result.healed}
    lost: dict[str, list[str]] = {}
    for cid, problems in report.damaged.items():
        lost[cid] = ["(manifest)" for p in problems if p.startswith("(manifest)")]
    for blob_id, users in report.lost.items():
        if blob_id not in healed:
            for cid, path in users:
                lost.setdefault(cid, []).append(path)
    return lost


def _repair_remote(site: Site, repo: CachedRepository) -> Repair:
    """Under the cache's lock and the remote lock for the whole run, after a pull under it (as
    gc: no other host writes meanwhile): the audit downloads every remote pack afresh and
    copies the good blobs of damaged or missing ones into new packs; the checkpoints are then
    verified on the cache (which holds a verified copy of every sound pack by now), what is
    still lost is healed from the site, and checkpoints still missing data are marked damaged,
    on the remote too (store/remote_repair.py: the order of uploads and deletes)."""
    result = Repair()
    with repo.lock(), remote_lock_held(repo):
        writer = repo.writer()
        with writer:
            found = audit(repo, writer)
            writer.commit()
        repo.index.forget_packs(found.doomed)  # their blobs now read as missing, or elsewhere
        for rows in found.sound.values():
            repo.index.add(rows)  # a copy in a sound pack stands in for a doomed one's
        repo.sync.remote_packs -= set(found.doomed)
        result.replaced, result.salvaged = found.doomed, found.salvaged
        checkpoints = repo.checkpoints()
        result.checked = len(checkpoints)
        report = verify_checkpoints(repo, checkpoints)
        writer = repo.writer()
        with writer:
            for blob_id, users in report.lost.items():
                source = _heal_from_site(site, writer, blob_id, [p for _, p in users])
                if source is not None:
                    result.healed[blob_id.hex()] = source
            writer.commit()
        notes: dict[str, bytes | None] = {}
        lost = _still_lost(report, result)
        for cp in checkpoints:
            if lost.get(cp.id):
                result.damaged[cp.id] = damage.mark(repo, cp.id, lost[cp.id])
                notes[cp.id] = damage.note_path(repo, cp.id).read_bytes()
            elif damage.clear(repo, cp.id):
                result.cleared.append(cp.id)
                notes[cp.id] = None
        publish(repo, found, notes)
        sweep_orphans(repo.sync, live_ids(repo))
    return result


def _repair_index_remote(site: Site) -> tuple[int, int, list[str]]:
    """The cache's index from its own packs, then from every index object; index objects
    missing or unreadable on the remote written again from their packs (downloaded). The
    cache is opened without a pull: its index may be too damaged for one."""
    repo = site.open_unpulled()
    assert isinstance(repo, CachedRepository)
    with Repository.lock(repo, sync_index=False):  # the cache's lock, without its pull
        repo.close()
        rebuild_index(repo.path / "index.sqlite", repo.packs_dir)
        (repo.path / SEEN_PACKS).unlink(missing_ok=True)  # the pull reads every index object
    with repo.lock(), remote_lock_held(repo):
        found = audit(repo, None)
        publish(repo, found, {})
        for name in found.reindex:
            repo.index.add(found.sound[name])
        repo.index.sync(repo.packs_dir)  # this cache's packs the remote does not have yet
        packs, blobs = len(repo.index.known_packs()), len(repo.index.locations())
    return packs, blobs, found.problems


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
