"""Verifying checkpoints: re-read and re-hash every stored object they use."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from safepoint.errors import IntegrityError
from safepoint.model.entry import FILE
from safepoint.parallel import map_each
from safepoint.progress import NullProgress, Progress
from safepoint.store.index import IndexDamagedError
from safepoint.store.pack import Location, pack_order
from safepoint.store.records import Checkpoint
from safepoint.store.repository import Repository
from safepoint.store.snapshots import snapshot_blobs

# each missing or damaged file blob -> the (checkpoint id, path) pairs that use it
Lost = dict[bytes, list[tuple[str, str]]]


@dataclass
class VerifyReport:
    checked: list[Checkpoint]
    blobs: int = 0
    bytes: int = 0
    damaged: dict[str, list[str]] = field(default_factory=dict)  # checkpoint id -> paths/reasons
    records: dict[str, str] = field(default_factory=dict)  # unreadable record file -> reason
    lost: Lost = field(default_factory=dict)  # what repair tries to heal

    @property
    def ok(self) -> bool:
        return not (self.damaged or self.records)


def verify_checkpoints(
    repo: Repository, checkpoints: list[Checkpoint], *, progress: Progress | None = None
) -> VerifyReport:
    """Re-read and re-hash everything ``checkpoints`` need (their manifests and every blob
    they name), e.g. ``verify_checkpoints(site.repository, list_checkpoints(site))``; also
    report record files that cannot be read. Damage is reported, not raised: ``ok`` is False
    and ``damaged`` maps a checkpoint id to what is wrong (the command line exits 3)."""
    progress = progress or NullProgress()
    report = VerifyReport(checked=checkpoints)
    repo.read_records()  # the records that cannot be read are damage too, whatever was asked
    report.records = {str(path): problem for path, problem in repo.skipped_records.items()}
    users: dict[bytes, list[tuple[str, str]]] = defaultdict(list)  # blob -> (checkpoint, path)
    for cp in checkpoints:
        try:
            entries = repo.load_manifest(cp)
        except IndexDamagedError:
            raise  # not this checkpoint's fault: one line that says how to rebuild the index
        except IntegrityError as exc:
            report.damaged.setdefault(cp.id, []).append(f"(manifest) {exc}")
            continue
        for e in entries:
            if e.kind == FILE and e.blob:
                users[bytes.fromhex(e.blob)].append((cp.id, e.path))
        _database_users(repo, cp, users, report)

    found = repo.index.lookup_many(users)
    bad: dict[bytes, str] = {b: "missing from the repository" for b in users if b not in found}
    bad.update(rehash(repo, list(found.values()), progress))
    report.blobs = len(users)
    report.bytes = sum(loc.raw_size for loc in found.values())
    for blob_id, problem in bad.items():
        report.lost[blob_id] = users[blob_id]
        for cid, path in users[blob_id]:
            report.damaged.setdefault(cid, []).append(f"{path}: {problem}")
    return report


def rehash(
    repo: Repository, locations: list[Location], progress: Progress | None = None
) -> dict[bytes, str]:
    """Read every blob at ``locations`` whole, pack by pack, and check its hash: the problem
    of each one that is damaged or unreadable (``verify``, ``check --read-data``)."""
    progress = progress or NullProgress()
    locations = sorted(locations, key=pack_order)
    progress.start("verify", sum(loc.stored_size for loc in locations))

    def check(loc: Location) -> tuple[bytes, str | None]:
        try:
            content = repo.content(loc)
            if not isinstance(content, bytes):
                for _ in content:  # a large blob: its hash is checked after the last piece
                    pass
            return loc.blob_id, None
        except IntegrityError as exc:
            return loc.blob_id, str(exc)
        finally:
            progress.advance(loc.stored_size)

    bad: dict[bytes, str] = {}
    for blob_id, problem in map_each(check, locations, lambda loc: loc.raw_size):
        if problem:
            bad[blob_id] = problem
    progress.finish()
    return bad


DATABASE = "(database snapshot)"


def _database_users(
    repo: Repository,
    cp: Checkpoint,
    users: dict[bytes, list[tuple[str, str]]],
    report: VerifyReport,
) -> None:
    """The blobs of ``cp``'s database snapshot join the check, named as the snapshot."""
    seen: set[bytes] = set()
    try:
        for blob_id in snapshot_blobs(repo, cp):
            seen.add(blob_id)
    except IntegrityError as exc:
        report.damaged.setdefault(cp.id, []).append(f"{DATABASE}: {exc}")
    for blob_id in seen:
        users[blob_id].append((cp.id, DATABASE))
