"""gc on a remote repository, and what keeps a writer on another host safe from it.

**The sweep** (``sweep_remote``, under the remote lock for the whole gc, after a pull): the
plan is made on the cache (store/gc.py: its index knows every remote pack), then

1. the new packs are written in the cache and indexed (store/gc.py steps 1-2), then uploaded
   with their index objects;
2. ``gc-generation`` is replaced (a sealed random value): nothing is deleted before it;
3. the cache's own sweep (forgotten records, packs forgotten by the index, cached copies);
4. on the remote: the forgotten records (every ``forgotten/`` object no root is), then
   every marks object and damage note whose checkpoint is no record (theirs, and any an
   interrupted gc left), then the index objects of the packs to delete, then those packs
   (and any pack without an index object: what an interrupted gc or upload left).

A crash at any moment leaves extra data on the remote, never missing data: before step 4 the
new packs hold every live blob of the packs to delete, and a record is deleted before the
data it names. The next gc pulls (a deleted pack's index object that is still there is indexed
again, with no live row) and finishes the deletes.

**A writer on another host** deduplicates against its cache's index without the lock, so it
may name a blob whose pack a gc then deletes. Under the remote lock, before it uploads records,
a push whose last pull saw another ``gc-generation`` (or that forgot vanished packs) runs
``check_pending``: every blob each record not yet on the remote needs must be in a pack that is
still there, or in a local pack it uploads now (a cached copy of a deleted pack is uploaded
again). A record for which neither holds is removed from the cache and the command fails
(exit 3) naming a file: no record on the remote ever names missing data, and the command can
be run again (its pull has forgotten the vanished packs, so the data is stored again).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from safepoint.errors import IntegrityError
from safepoint.store.gc import GcPlan, sweep, test_point
from safepoint.store.reach import blobs_of
from safepoint.store.records import load_record
from safepoint.store.remote_repair import live_ids, sweep_orphans
from safepoint.store.remote_sync import FORGOTTEN, INDEX, RECORDS, local_packs, pack_object

if TYPE_CHECKING:
    from safepoint.store.cached import CachedRepository
    from safepoint.store.remote_sync import RemoteSync
    from safepoint.store.repository import Repository


def sweep_remote(
    repo: CachedRepository,
    plan: GcPlan,
    roots: list[Path],
    drop_cached: Callable[[set[bytes]], None],
) -> int:
    """Carry out ``plan`` on the cache and the remote (the module docstring's order);
    ``roots``: the record files of the checkpoints kept. The caller holds the remote lock
    (``repo.sync.lock``); ``drop_cached`` as for ``sweep``. Returns the remote packs' bytes
    afterwards."""
    sync = repo.sync
    kept = {sync.sealed.content_id(path.read_bytes()) for path in roots}
    drop = sorted(sync.names(FORGOTTEN) - kept - sync.names(RECORDS))
    doomed = plan.delete + plan.repack
    # Packs without an index object: a gc cut off between its two deletes, or a writer killed
    # between its two uploads (its cache uploads the pack again with its record): no record
    # on the remote names them.
    orphans = sorted(set(plan.packs_before) - sync.names(INDEX))

    def publish() -> None:
        sync.push_packs(repo)
        test_point("remote-uploaded")
        sync.bump_generation()

    if plan.copy or doomed or plan.forgotten or drop:
        sweep(repo, plan, drop_cached, published=publish)
    for name in drop:
        _delete(sync, FORGOTTEN + name)
    sweep_orphans(sync, live_ids(repo))  # the dropped records' marks and damage notes
    test_point("remote-records-deleted")
    for name in doomed:
        _delete(sync, INDEX + name)
        test_point("remote-index-deleted")
    for name in doomed + orphans:
        _delete(sync, pack_object(name))
    sync.remote_packs -= set(doomed)
    sync.save_seen(repo)
    sync.generation = sync.generation_tag()  # this process's own gc
    return sum(sync.pack_sizes().values())


def _delete(sync: RemoteSync, name: str) -> None:
    sync.check_lock()
    sync.sealed.delete(name)


def check_pending(sync: RemoteSync, repo: Repository) -> None:
    """See the module docstring. The caller holds the remote lock."""
    on_remote = sync.names(RECORDS) | sync.names(FORGOTTEN)
    now = sync.names(INDEX)
    sync.remote_packs = now  # a pack a gc deleted is not fetched
    local = set(local_packs(repo))
    upload: set[str] = set()
    refused: list[tuple[Path, str]] = []
    for path in sorted(repo.records_dir.glob("*.json")):
        if sync.sealed.content_id(path.read_bytes()) in on_remote:
            continue
        lost = _lost(repo, path, now, local, upload)
        if lost is not None:
            refused.append((path, lost))
    sync.sync_packs(repo, keep=upload)  # forget the rest of what the gc deleted
    sync.generation, sync.vanished = sync.generation_tag(), False
    for path, _ in refused:
        path.unlink(missing_ok=True)
    if refused:
        what = refused[0][1]
        raise IntegrityError(
            f"no checkpoint was saved: {what} was deleted from {sync.url} by a gc on another "
            "host while this command ran; run it again (the data will be stored again)"
        )


def _lost(
    repo: Repository, path: Path, remote: set[str], local: set[str], upload: set[str]
) -> str | None:
    """What the record at ``path`` needs that neither the remote nor the cache holds (a file
    name, or "its manifest"), else None; packs to upload again are added to ``upload``."""
    cp = load_record(path, repo.marks_dir)
    try:
        needed = blobs_of(repo, cp)
    except IntegrityError:
        return "its manifest"
    where = repo.index.lookup_many(needed)
    missing: set[bytes] = set()
    for blob in needed:
        loc = where.get(blob)
        if loc is None or (loc.pack not in remote and loc.pack not in local):
            missing.add(blob)
        elif loc.pack not in remote:
            upload.add(loc.pack)
    if not missing:
        return None
    for entry in repo.load_manifest(cp):
        if entry.blob and bytes.fromhex(entry.blob) in missing:
            return f"the data of {entry.path}"
    return "its data"
