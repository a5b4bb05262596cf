"""``safepoint gc``: end the undelete window of forgotten checkpoints and give their space back.

Under the repository lock: the roots are the checkpoints in the list and those a pending
rollback journal names (its target and safety checkpoint, even if forgotten); every blob they
need is live (store/reach.py); packs are weighed, deleted or repacked (store/gc.py, which also
says why every crash leaves extra data, never missing data). A checkpoint whose manifest cannot
be read stops gc (what it needs cannot be known) unless ``repair`` marked it damaged.

On a remote repository the whole gc holds the remote lock too, after a pull: the roots are every
remote record and this root's journals (another host's pending rollback is protected by its
safety checkpoint being a record), the plan is made on the cache against the remote's packs,
and store/remote_gc.py orders the uploads and deletes there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from safepoint.diskspace import free_space, human_size
from safepoint.errors import IntegrityError, OperationalError, UsageError
from safepoint.ops.site import Site
from safepoint.restore.journal import read_journal
from safepoint.scan.treecache import drop_blobs
from safepoint.store import damage, state
from safepoint.store.cached import CachedRepository
from safepoint.store.gc import FORGOTTEN, INDEX_SPARE, GcPlan, forgotten_records, plan_gc, sweep
from safepoint.store.index import IndexDamagedError
from safepoint.store.reach import ChunkCache, blobs_of
from safepoint.store.records import Checkpoint, load_record
from safepoint.store.repository import Repository


@dataclass(frozen=True)
class GcResult:
    dry_run: bool
    checkpoints: int  # the roots
    forgotten: list[str]  # records whose undelete window ended (or would)
    deleted_packs: int
    repacked_packs: int
    copied_blobs: int
    missing_blobs: int  # live blobs that were already missing ('check' says more)
    bytes_before: int  # the packs' bytes on disk
    bytes_after: int  # after (a dry run: the estimate)
    remote: str | None = None  # the remote repository whose bytes these are

    @property
    def freed(self) -> int:
        return self.bytes_before - self.bytes_after


def gc(site: Site, *, dry_run: bool = False, max_unused: float = 10.0) -> GcResult:
    if not 0 <= max_unused <= 100:
        raise UsageError(f"--max-unused must be a percentage from 0 to 100, not {max_unused:g}")
    repo = site.repository
    _check_some_room(repo)
    remote = repo if isinstance(repo, CachedRepository) else None
    with repo.lock(), remote_lock_held(remote):
        roots = gc_roots(repo)
        keep = {cp.id for cp in roots}
        forgotten = [cid for cid in forgotten_records(repo) if cid not in keep]
        sizes = None if remote is None else remote.sync.pack_sizes()
        plan = plan_gc(repo, live_blobs(repo, roots), forgotten, max_unused / 100, sizes=sizes)
        if dry_run:
            after = plan.disk_before - plan.freed_estimate
        elif remote is not None:
            from safepoint.store.remote_gc import sweep_remote

            after = sweep_remote(
                remote,
                plan,
                [_record_file(repo, cp.id) for cp in roots],
                lambda removed: _fix_cache(repo, removed),
            )
        else:
            after = sweep(repo, plan, lambda removed: _fix_cache(repo, removed))
    result = _result(plan, len(roots), dry_run, after)
    return result if remote is None else replace(result, remote=remote.url)


@contextmanager
def remote_lock_held(repo: CachedRepository | None) -> Iterator[None]:
    """The remote lock for the whole gc, and a pull under it (what other hosts wrote until
    then is seen; no other writer can add more until the gc ends)."""
    if repo is None:
        yield
        return
    with repo.sync.remote_lock() as held:
        repo.sync.lock = held
        try:
            repo.pull()
            yield
        finally:
            repo.sync.lock = None


def _record_file(repo: Repository, cid: str) -> Path:
    listed = repo.records_dir / f"{cid}.json"
    return listed if listed.exists() else repo.forgotten_dir / f"{cid}.json"


def _fix_cache(repo: Repository, removed: set[bytes]) -> None:
    """This root's tree cache loses only the blocks naming removed blobs, and stays trusted."""
    drop_blobs(repo.cache_path, removed)
    state.cache_fixed(repo.path, repo.cache_path.parent)


def _check_some_room(repo: Repository) -> None:
    """Even a gc that only deletes writes to the index first; on a file system without room
    for that, SQLite says no more than "disk I/O error"."""
    free = free_space(repo.path)
    if free is not None and free < INDEX_SPARE:
        raise OperationalError(
            f"gc stopped: no space left at {repo.path} ({human_size(free)} free; gc needs about "
            f"{human_size(INDEX_SPARE)} for its index transactions); nothing was deleted (free "
            "some space on that file system, then run gc again)"
        )


def gc_roots(repo: Repository) -> list[Checkpoint]:
    """The listed checkpoints, and a forgotten one that a pending rollback journal names."""
    roots = repo.checkpoints()
    if repo.skipped_records:
        path, why = next(iter(repo.skipped_records.items()))
        raise IntegrityError(
            f"gc refused: {path} cannot be read ({why}), so what it needs cannot be known; "
            "nothing was deleted (move the file out of checkpoints/ if it is not a record)"
        )
    listed = {cp.id for cp in roots}
    for path in state.journals(repo.path, repo.journal_path):  # every root's (store/state.py)
        journal = read_journal(path)
        if journal is None:
            continue
        for cid in (journal.target, journal.safety):
            path = repo.path / FORGOTTEN / f"{cid}.json"
            if cid not in listed and path.exists():
                roots.append(load_record(path, repo.marks_dir))
                listed.add(cid)
    return roots


def live_blobs(repo: Repository, roots: list[Checkpoint]) -> set[bytes]:
    live: set[bytes] = set()
    chunks: ChunkCache = {}
    for cp in roots:
        try:
            live |= blobs_of(repo, cp, chunks=chunks)
        except IndexDamagedError:
            raise
        except IntegrityError as exc:
            if damage.reason(repo, cp.id) is None:
                raise IntegrityError(
                    f"gc refused: checkpoint {cp.display_name} cannot be read ({exc}), so what "
                    "it needs cannot be known; nothing was deleted (run 'safepoint repair', "
                    "which heals it or marks it damaged)"
                ) from None
            live.add(bytes.fromhex(cp.manifest))  # damaged: keep whatever is left of it
    return live


def _result(plan: GcPlan, roots: int, dry_run: bool, after: int) -> GcResult:
    return GcResult(
        dry_run=dry_run,
        checkpoints=roots,
        forgotten=plan.forgotten,
        deleted_packs=len(plan.delete),
        repacked_packs=len(plan.repack),
        copied_blobs=len(plan.copy),
        missing_blobs=len(plan.missing),
        bytes_before=plan.disk_before,
        bytes_after=after,
    )
