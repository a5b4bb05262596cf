"""``safepoint check``: is the repository whole? Structure first, then (optionally) data.

Structure: every record can be read; every record's manifest, and every blob it needs
(store/reach.py), is in the index; every index entry points into a pack that exists and holds
a sound record header for that blob there. Data (``--read-data``, or a random share of the
packs with ``--read-data-subset``): every indexed blob is read and re-hashed (the same code as
``verify``). Problems make exit 3. What an interrupted gc leaves (packs the index does not
know, blobs nothing needs, ``.pack.tmp`` files) is extra data, not damage: warnings only.
Forgotten checkpoints are checked too: ``undelete`` must get them back whole.
"""

from __future__ import annotations

import math
import os
import random
from collections import defaultdict
from dataclasses import dataclass, field

from safepoint.diskspace import human_size
from safepoint.errors import IntegrityError, UsageError
from safepoint.ops.site import Site
from safepoint.ops.verify import rehash
from safepoint.progress import Progress
from safepoint.store import damage
from safepoint.store.cached import CachedRepository
from safepoint.store.gc import FORGOTTEN, pack_sizes
from safepoint.store.index import IndexDamagedError
from safepoint.store.pack import Location, check_header, pack_path
from safepoint.store.reach import ChunkCache, blobs_of
from safepoint.store.records import Checkpoint, load_record
from safepoint.store.repository import Repository


@dataclass
class CheckReport:
    checkpoints: int = 0
    packs: int = 0
    blobs: int = 0
    read_blobs: int = 0  # re-hashed (--read-data)
    read_bytes: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(
    site: Site,
    *,
    read_data: bool = False,
    subset: float | None = None,
    progress: Progress | None = None,
) -> CheckReport:
    """``subset``: the percentage of packs whose data is read (``read_data`` reads all)."""
    if subset is not None and not 0 < subset <= 100:
        raise UsageError(
            f"--read-data-subset must be a percentage above 0 and up to 100, not {subset:g}"
        )
    repo = site.repository
    report = CheckReport()
    locations = {loc.blob_id: loc for loc in repo.index.locations()}
    on_disk = pack_sizes(repo.packs_dir)
    remote_only: set[str] = set()
    if isinstance(repo, CachedRepository):  # the remote's packs, not only the cached ones
        remote = repo.sync.pack_sizes()
        remote_only = set(remote) - set(on_disk)
        on_disk = {**remote, **on_disk}
    report.packs, report.blobs = len(on_disk), len(locations)
    sound = _check_packs(repo, locations, on_disk, report, remote_only)
    needed = _check_records(repo, locations, report)
    _extra(repo, locations, on_disk, needed, report)
    if read_data or subset is not None:
        chosen = [loc for loc in sound if loc.blob_id in locations]
        if subset is not None and not read_data:
            packs = sorted({loc.pack for loc in chosen})
            picked = set(
                random.sample(packs, min(len(packs), math.ceil(len(packs) * subset / 100)))
            )
            chosen = [loc for loc in chosen if loc.pack in picked]
        report.read_blobs = len(chosen)
        report.read_bytes = sum(loc.raw_size for loc in chosen)
        for blob_id, problem in sorted(rehash(repo, chosen, progress).items()):
            report.problems.append(f"blob {blob_id.hex()}: {problem}")
    return report


def _check_packs(
    repo: Repository,
    locations: dict[bytes, Location],
    on_disk: dict[str, int],
    report: CheckReport,
    remote_only: set[str],
) -> list[Location]:
    """Each index entry's pack exists and has the record header the index expects; returns
    the entries that passed. A pack on the remote and not in the cache (``remote_only``) is
    not downloaded for this: its headers are checked when ``--read-data`` fetches it."""
    by_pack: dict[str, list[Location]] = defaultdict(list)
    for loc in locations.values():
        by_pack[loc.pack].append(loc)
    sound = []
    for name, locs in sorted(by_pack.items()):
        if name not in on_disk:
            report.problems.append(
                f"pack {name} is missing ({len(locs)} blob(s) the index places there)"
            )
            continue
        if name in remote_only:
            sound.extend(locs)
            continue
        try:
            fd = os.open(pack_path(repo.packs_dir, name), os.O_RDONLY)
        except OSError as exc:
            report.problems.append(f"pack {name} is unreadable: {exc.strerror}")
            continue
        try:
            for loc in locs:
                try:
                    check_header(fd, loc)
                    sound.append(loc)
                except IntegrityError as exc:
                    report.problems.append(str(exc))
        finally:
            os.close(fd)
    return sound


def _check_records(
    repo: Repository, locations: dict[bytes, Location], report: CheckReport
) -> set[bytes]:
    """Every listed and forgotten record, its manifest and the blobs it needs; returns those."""
    records: list[Checkpoint] = repo.checkpoints()
    for path, why in sorted(repo.skipped_records.items()):
        report.problems.append(f"record {path}: {why}")
    for path in sorted((repo.path / FORGOTTEN).glob("*.json")):
        try:
            records.append(load_record(path, repo.marks_dir))
        except (IntegrityError, OSError) as exc:
            report.problems.append(f"forgotten record {path}: {exc}")
    report.checkpoints = len(records)
    needed: set[bytes] = set()
    chunks: ChunkCache = {}
    for cp in records:
        known_damage = damage.reason(repo, cp.id)
        if known_damage is not None:
            report.warnings.append(
                f"checkpoint {cp.display_name} is marked damaged: {known_damage}"
            )
        try:
            blobs = blobs_of(repo, cp, chunks=chunks)
        except IndexDamagedError:
            raise
        except IntegrityError as exc:
            needed.add(bytes.fromhex(cp.manifest))
            if known_damage is None:
                report.problems.append(f"checkpoint {cp.display_name}: manifest: {exc}")
            continue
        needed |= blobs
        missing = sorted(blobs - locations.keys())
        if missing and known_damage is None:
            ids = ", ".join(b.hex()[:12] for b in missing[:3]) + (
                " ..." if len(missing) > 3 else ""
            )
            report.problems.append(
                f"checkpoint {cp.display_name}: {len(missing)} blob(s) missing from the "
                f"index ({ids})"
            )
    return needed


def _extra(
    repo: Repository,
    locations: dict[bytes, Location],
    on_disk: dict[str, int],
    needed: set[bytes],
    report: CheckReport,
) -> None:
    unknown = sorted(set(on_disk) - repo.index.known_packs())
    if unknown:
        size = sum(on_disk[p] for p in unknown)
        report.warnings.append(
            f"{len(unknown)} pack(s) the index does not know ({human_size(size)}): the next "
            "'safepoint gc' indexes them and deletes what nothing needs (if the index lost "
            "them, 'safepoint repair index' rebuilds it from the packs)"
        )
    used = {loc.pack for loc in locations.values()}
    idle = sorted(set(on_disk) - used - set(unknown))
    if idle:
        size = sum(on_disk[p] for p in idle)
        report.warnings.append(
            f"{len(idle)} pack(s) hold only copies of blobs stored elsewhere "
            f"({human_size(size)}): 'safepoint gc' deletes them"
        )
    unused = [loc for b, loc in locations.items() if b not in needed]
    if unused:
        size = sum(loc.stored_size for loc in unused)
        report.warnings.append(
            f"{len(unused)} blob(s) no checkpoint needs ({human_size(size)}): "
            "'safepoint gc' removes them"
        )
    tmp = list(repo.packs_dir.glob("*/*.pack.tmp"))
    if tmp:
        report.warnings.append(
            f"{len(tmp)} unfinished pack(s) (.pack.tmp) of an interrupted command: the next "
            "writer removes them"
        )
