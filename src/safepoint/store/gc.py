"""Garbage collection: plan (mark and weigh the packs), then sweep in an order that a crash at
any moment leaves with extra data, never missing data.

The plan: every blob the roots need (``reach.blobs_of``) is live; each pack's live share is
the bytes of its live records (as the index places them) over its size on disk. A pack with no
live record is deleted; a pack whose unused share is above ``max_unused`` is repacked (its live
records copied, stored bytes as they are, into new packs, then deleted). The caller holds the
repository lock (writers excluded); readers take none (see store/generation.py).

The sweep, step by step (``docs/FORMAT.md`` lists the same order):

1. new packs written as ``.pack.tmp``, fsynced, renamed, directories fsynced;
2. their locations committed to the index, replacing the old ones (one transaction);
3. ``gc.json`` replaced (readers that meet a vanished pack after this know why);
4. the forgotten records (``forgotten/ID.json``) deleted, then marks and damage notes that
   name no record;
5. the packs to delete forgotten by the index (one transaction);
6. the tree cache's blocks that name a removed blob dropped (it vouches that the blobs it
   names are stored; the caller does it, ``drop_cached``: the cache belongs to scan/);
7. the old packs deleted, their directories fsynced.

Nothing is deleted before step 4, and steps 1 to 3 are the ones that need space (checked
first), so a full disk leaves the repository as it was. Before step 5 the packs to delete hold
only blobs no remaining record needs (the live ones were re-homed in step 2); a crash after it
leaves packs that the index does not know: the next writer indexes them again
(store/upkeep.py), and the next gc deletes them.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from safepoint.diskspace import describe, free_space, human_size
from safepoint.errors import IntegrityError, OperationalError
from safepoint.store import damage, generation
from safepoint.store.atomic import fsync_dir
from safepoint.store.pack import (
    CHUNK,
    FILE_HEADER,
    LARGE,
    RECORD_SIZE,
    Location,
    PackWriter,
    pack_order,
    pack_path,
)

if TYPE_CHECKING:
    from safepoint.store.repository import Repository

FORGOTTEN = "forgotten"  # forgotten/ID.json: records 'safepoint forget' moved out of the list
INDEX_SPARE = 1024 * 1024  # room the index's transactions need beside the new packs


@dataclass
class GcPlan:
    live: set[bytes]
    forgotten: list[str]  # records to delete (their undelete window ends)
    packs_before: dict[str, int]  # every pack on disk -> its size
    delete: list[str] = field(default_factory=list)  # packs with no live record
    repack: list[str] = field(default_factory=list)  # packs whose live records move
    copy: list[Location] = field(default_factory=list)  # those live records
    missing: list[bytes] = field(default_factory=list)  # live blobs the index does not know
    removed: set[bytes] = field(default_factory=set)  # blobs of the packs deleted or repacked
    # that are not live: gone from the repository after the sweep
    unused_bytes: int = 0  # bytes of packs on disk that hold no live record

    @property
    def disk_before(self) -> int:
        return sum(self.packs_before.values())

    @property
    def copy_bytes(self) -> int:
        return sum(RECORD_SIZE + loc.stored_size for loc in self.copy)

    @property
    def freed_estimate(self) -> int:
        gone = sum(self.packs_before[p] for p in self.delete + self.repack)
        return gone - self.copy_bytes - (len(FILE_HEADER) if self.copy else 0)


def pack_sizes(packs_dir: Path) -> dict[str, int]:
    """Every complete pack on disk and its size in bytes."""
    out = {}
    for path in packs_dir.glob("*/*.pack"):
        try:
            out[path.name.removesuffix(".pack")] = path.stat().st_size
        except FileNotFoundError:
            continue
    return out


def plan_gc(
    repo: Repository,
    live: set[bytes],
    forgotten: list[str],
    max_unused: float,
    *,
    sizes: dict[str, int] | None = None,
) -> GcPlan:
    """Weigh every pack against ``live`` (see the module docstring); ``max_unused`` is the
    share (0 to 1) of a pack's bytes that may be unused before it is repacked. ``sizes``:
    the packs to weigh and their sizes (default: those on disk; a remote's: its own)."""
    before = pack_sizes(repo.packs_dir) if sizes is None else sizes
    plan = GcPlan(live=live, forgotten=forgotten, packs_before=before)
    by_pack: dict[str, list[Location]] = defaultdict(list)
    for loc in repo.index.locations():
        by_pack[loc.pack].append(loc)
    known = {loc.blob_id for locs in by_pack.values() for loc in locs}
    plan.missing = sorted(live - known)
    indexed = repo.index.known_packs()
    for name, size in sorted(plan.packs_before.items()):
        if name not in indexed:
            continue  # a pack the upkeep could not index: never deleted by gc
        # A pack indexed with no rows holds only copies of blobs found elsewhere first (a
        # repack that a crash cut off before its index commit): nothing of it is used.
        kept = [loc for loc in by_pack.get(name, []) if loc.blob_id in live]
        used = len(FILE_HEADER) + sum(RECORD_SIZE + loc.stored_size for loc in kept)
        if not kept:
            plan.delete.append(name)
            plan.unused_bytes += size
        elif size - used > max_unused * size:
            plan.repack.append(name)
            plan.copy.extend(kept)
            plan.unused_bytes += size - used
        else:
            plan.unused_bytes += max(0, size - used)
            continue
        plan.removed.update(loc.blob_id for loc in by_pack.get(name, ()) if loc.blob_id not in live)
    plan.copy.sort(key=pack_order)
    return plan


def sweep(
    repo: Repository,
    plan: GcPlan,
    drop_cached: Callable[[set[bytes]], None],
    *,
    published: Callable[[], None] = lambda: None,
) -> int:
    """Carry out ``plan`` in the crash-safe order of the module docstring; returns the packs'
    bytes on disk afterwards. ``drop_cached`` takes the removed blobs out of the tree cache;
    ``published`` runs after the new packs are indexed and before anything is deleted (a
    remote: upload them, store/remote_gc.py)."""
    test_point("planned")
    if plan.copy:
        _check_room(repo, plan)
        moved = _copy_live(repo, plan.copy)
        test_point("packs-written")
        repo.index.add(moved, replace=True)
        test_point("index-updated")
    published()
    doomed = plan.delete + plan.repack
    if doomed or plan.forgotten:
        try:
            generation.announce(repo.path)
        except OSError as exc:
            raise OperationalError(f"gc stopped: {describe(exc)}; nothing was deleted") from None
        test_point("announced")
    _remove_records(repo, plan.forgotten)
    test_point("records-deleted")
    if doomed:
        repo.index.forget_packs(doomed)
        test_point("index-forgot")
        drop_cached(plan.removed)
        test_point("cache-dropped")
    repo.close_packs()
    dirs = set()
    for name in doomed:
        path = pack_path(repo.packs_dir, name)
        path.unlink(missing_ok=True)
        dirs.add(path.parent)
        test_point("pack-deleted")
    for folder in dirs:
        fsync_dir(folder)
    test_point("done")
    return sum(pack_sizes(repo.packs_dir).values())


def _check_room(repo: Repository, plan: GcPlan) -> None:
    need = plan.copy_bytes + len(FILE_HEADER) + INDEX_SPARE
    free = free_space(repo.packs_dir)
    if free is not None and free < need:
        raise OperationalError(
            f"gc needs about {human_size(need)} to repack {len(plan.repack)} pack(s) and "
            f"{human_size(free)} is free at {repo.packs_dir}; nothing was deleted (free some "
            "space, or run 'safepoint gc --max-unused 100' to delete only unused packs)"
        )


def _copy_live(repo: Repository, locations: list[Location]) -> list[Location]:
    """Copy the stored bytes of ``locations`` (each read and hash-checked first) into new
    packs, made durable; returns their new locations. Any failure removes the new packs."""
    writer = PackWriter(repo.packs_dir)
    try:
        for loc in locations:
            if loc.raw_size > LARGE:
                for _ in repo.stream_at(loc):  # checked whole before its bytes are copied
                    pass
                writer.add_stream(loc.blob_id, loc.raw_size, loc.codec, _stored(repo, loc))
            else:
                repo.read_at(loc)  # the hash check: a damaged blob is not spread further
                writer.add(loc.blob_id, loc.raw_size, loc.codec, _stored_bytes(repo, loc))
        return writer.commit()
    except IntegrityError as exc:
        writer.abort()
        raise IntegrityError(
            f"gc stopped: {exc}; nothing was deleted ('safepoint check --read-data' lists "
            "the damage, 'safepoint repair' heals or marks it)"
        ) from None
    except OSError as exc:
        writer.abort()
        what = "no space to write a new pack" if exc.errno == errno.ENOSPC else "cannot repack"
        raise OperationalError(
            f"gc stopped: {what}: {describe(exc)}; nothing was deleted"
        ) from None
    except BaseException:
        writer.abort()
        raise


def _stored_bytes(repo: Repository, loc: Location) -> bytes:
    fd = os.open(pack_path(repo.packs_dir, loc.pack), os.O_RDONLY)
    try:
        return os.pread(fd, loc.stored_size, loc.offset + RECORD_SIZE)
    finally:
        os.close(fd)


def _stored(repo: Repository, loc: Location) -> Iterator[bytes]:
    fd = os.open(pack_path(repo.packs_dir, loc.pack), os.O_RDONLY)
    try:
        done = 0
        while done < loc.stored_size:
            start = loc.offset + RECORD_SIZE + done
            piece = os.pread(fd, min(CHUNK, loc.stored_size - done), start)
            if not piece:
                raise IntegrityError(f"pack {loc.pack} is truncated at blob {loc.blob_id.hex()}")
            done += len(piece)
            yield piece
    finally:
        os.close(fd)


def _remove_records(repo: Repository, forgotten: Iterable[str]) -> None:
    """Delete forgotten records, then marks and damage notes that name no record (those of the
    forgotten records, and any a crash left after their record went)."""
    folder = repo.path / FORGOTTEN
    for cid in forgotten:
        (folder / f"{cid}.json").unlink(missing_ok=True)
    if forgotten:
        fsync_dir(folder)
    records = {p.name for p in repo.records_dir.glob("*.json")}
    records |= {p.name for p in folder.glob("*.json")}
    for side in (repo.marks_dir, repo.path / damage.FOLDER):
        for path in side.glob("*.json"):
            if path.name not in records:
                path.unlink(missing_ok=True)


def forgotten_records(repo: Repository) -> list[str]:
    return sorted(p.name.removesuffix(".json") for p in (repo.path / FORGOTTEN).glob("*.json"))


def test_point(name: str) -> None:
    """Tests kill gc here, as a crash would (``SAFEPOINT_TEST_GC_KILL=NAME`` or ``NAME:N``
    for the N-th time it is reached)."""
    want = os.environ.get("SAFEPOINT_TEST_GC_KILL")
    if not want:
        return
    point, _, nth = want.partition(":")
    if point != name:
        return
    count = _HITS[name] = _HITS.get(name, 0) + 1
    if count >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


_HITS: dict[str, int] = {}
