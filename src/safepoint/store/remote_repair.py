"""``repair`` and ``repair index`` on a remote repository, and the damage notes of a remote.

**The audit** (``audit``, under the remote lock for the whole repair, after a pull): every pack
the remote lists in ``packs/`` or ``index/`` is downloaded afresh into ``cache/repair/`` (the
cache's copy may be sound while the remote's is not) in 8 MiB ranges, four packs at once while
the one before them is judged (at most four wait in the scratch folder); a range that fails
authentication is read again segment by segment, and a segment that still fails is zeros.
Its records come from its index object (or, when that is missing or unreadable, from the pack's
headers) and every blob is read and re-hashed. A pack that reads whole with sound blobs is kept
in the cache (its index object is written again when it was missing or unreadable); any other
pack is **doomed**: its good blobs (and those the cache's own copy of it still has sound) are
copied into new packs first. ``repair index`` audits the same way but dooms nothing: a damaged
pack is reported ("run 'safepoint repair'").

**Publishing** (``publish``): the new packs and their index objects, the rewritten index
objects, the damage notes, then ``gc-generation`` is replaced (writers that pulled before check
their records; other hosts' pulls read the notes again), then each doomed pack's index object
and the pack (``SAFEPOINT_TEST_GC_KILL`` has the points ``repair-uploaded`` and
``repair-index-deleted``). A crash leaves extra objects only: a doomed pack is deleted after
every good blob it held is uploaded elsewhere; the next repair (or gc) finishes.

**Damage notes on the remote**: ``damaged/content_id(ID)``, sealed: ``ID`` newline the note's
JSON (store/damage.py). A pull after ``gc-generation`` changed mirrors ``damaged/`` into the
cache's ``damaged/`` (notes added and removed), so every host sees what a repair marked.
``sweep_orphans`` deletes marks objects and notes whose checkpoint is neither a record nor a
forgotten one (gc and repair, after the records' deletes).
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from safepoint.errors import IntegrityError
from safepoint.parallel import ordered
from safepoint.store.atomic import atomic_file, write_atomic
from safepoint.store.backend.crypto import SEGMENT
from safepoint.store.damage import FOLDER
from safepoint.store.gc import test_point
from safepoint.store.pack import Location, pack_path, scan_pack
from safepoint.store.remote_sync import (
    FETCH_PIECE,
    INDEX,
    MARKS,
    PARALLEL,
    decode_index,
    encode_index,
    pack_object,
)
from safepoint.store.repository import Repository
from safepoint.store.writer import BlobWriter, FileChangedError

if TYPE_CHECKING:
    from safepoint.store.cached import CachedRepository
    from safepoint.store.remote_sync import RemoteSync

DAMAGED = "damaged/"
PULLED_DAMAGE = "pulled-damage.json"  # in the cache: gc-generation's tag at the last mirror
SCRATCH = "repair"


@dataclass
class Audit:
    sound: dict[str, list[Location]] = field(default_factory=dict)  # pack -> its records
    reindex: list[str] = field(default_factory=list)  # sound packs lacking a readable index obj
    doomed: list[str] = field(default_factory=list)  # damaged or missing packs
    salvaged: int = 0  # good blobs copied out of doomed packs
    problems: list[str] = field(default_factory=list)


@dataclass
class Fetched:
    """One pack as the audit downloaded it."""

    name: str
    copy: Path  # its fresh download, in the scratch folder
    rows: list[Location] | None  # its records: from its index object, else its headers
    has_index: bool  # its index object was there and readable
    listed: bool = False  # the remote lists the pack itself
    whole: bool = False  # it downloaded and parsed whole


def audit(repo: CachedRepository, writer: BlobWriter | None) -> Audit:
    """See the module docstring; ``writer`` None: ``repair index`` (nothing is doomed)."""
    sync = repo.sync
    listed, indexed = set(sync.pack_sizes()), sync.names(INDEX)
    scratch = repo.path / SCRATCH
    shutil.rmtree(scratch, ignore_errors=True)
    reader = Repository(scratch)  # reads (and re-hashes) the fresh downloads
    result = Audit()

    def fetch(name: str) -> Fetched:
        """The index object and the pack, downloaded into the scratch folder (in a worker)."""
        rows = _index_rows(sync, name) if name in indexed else None
        copy = pack_path(scratch / "packs", name)
        got = Fetched(name, copy, rows, rows is not None, listed=name in listed)
        if writer is None and got.has_index:
            return got  # repair index: skipped, not downloaded
        if got.listed:
            got.whole = _download(sync, name, got.copy)
            scanned, parsed = _scan(got.copy)
            got.whole = got.whole and parsed
            got.rows = scanned if rows is None else rows
        return got

    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            # PARALLEL packs download while one is re-hashed: at most that many wait in the
            # scratch folder beyond it, whatever the repository's size
            for got in ordered(pool, fetch, sorted(listed | indexed), ahead=PARALLEL):
                _judge(repo, writer, reader, result, got)
    finally:
        reader.close_packs()
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def _judge(
    repo: CachedRepository,
    writer: BlobWriter | None,
    reader: Repository,
    result: Audit,
    fetched: Fetched,
) -> None:
    """Keep a sound pack (its verified copy goes into the cache), or doom it and copy its good
    blobs out (``writer`` None, ``repair index``: say it is missing or damaged)."""
    name, rows, copy = fetched.name, fetched.rows or [], fetched.copy
    if writer is None and fetched.has_index:
        return  # repair index: only packs without a readable index object
    # a pack the remote lacks: every blob of it is bad
    bad = _rehash(reader, rows) if fetched.listed else {loc.blob_id for loc in rows}
    if fetched.whole and not bad:
        result.sound[name] = rows
        if not fetched.has_index:
            result.reindex.append(name)
        reader.close_packs()  # one open pack at a time, however many there are
        repo.close_packs()
        pack_path(repo.packs_dir, name).parent.mkdir(mode=0o700, exist_ok=True)
        os.replace(copy, pack_path(repo.packs_dir, name))  # a verified copy
        return
    what = "damaged" if fetched.listed else "missing"
    if writer is None:
        result.problems.append(f"pack {name} is {what} on {repo.sync.url}")
        return
    result.doomed.append(name)
    cached = pack_path(repo.packs_dir, name)
    for loc in rows:
        if loc.blob_id not in bad and _copy(writer, reader, loc):
            result.salvaged += 1
        elif cached.exists() and _copy(writer, repo, loc):
            result.salvaged += 1  # the cache's own copy of it is sound there
    reader.close_packs()
    repo.close_packs()
    copy.unlink(missing_ok=True)
    cached.unlink(missing_ok=True)  # a push must not upload it again


def _index_rows(sync: RemoteSync, name: str) -> list[Location] | None:
    try:
        return decode_index(name, sync.sealed.get(INDEX + name))
    except IntegrityError:
        return None  # unreadable: the pack's headers say it again


def _download(sync: RemoteSync, name: str, dest: Path) -> bool:
    """The remote pack into ``dest``; False when some segment failed authentication (zeros
    there, so that the blobs elsewhere can still be read and copied out)."""
    remote = pack_object(name)
    info = sync.sealed.stat(remote)
    if info is None:
        return False
    dest.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    whole = True
    with atomic_file(dest) as f:
        for offset in range(0, info.size, FETCH_PIECE):
            size = min(FETCH_PIECE, info.size - offset)
            try:
                f.write(sync.sealed.get(remote, offset, size))
                continue
            except IntegrityError:
                whole = False
            for start in range(offset, offset + size, SEGMENT):
                length = min(SEGMENT, offset + size - start)
                try:
                    f.write(sync.sealed.get(remote, start, length))
                except IntegrityError:
                    f.write(bytes(length))
    sync.transfer.add(received=info.size)
    return whole


def _scan(path: Path) -> tuple[list[Location], bool]:
    """The pack's records from its headers, and whether it parsed to its end."""
    found: list[Location] = []
    try:
        found.extend(scan_pack(path))
    except (IntegrityError, OSError):
        return found, False
    return found, True


def _rehash(reader: Repository, rows: list[Location]) -> set[bytes]:
    """The blobs at ``rows`` that do not read back whole with their hash."""
    bad = set()
    for loc in rows:
        try:
            content = reader.content(loc)
            if not isinstance(content, bytes):
                for _ in content:  # a large blob: its hash is checked after the last piece
                    pass
        except (IntegrityError, OSError):
            bad.add(loc.blob_id)
    return bad


def _copy(writer: BlobWriter, source: Repository, loc: Location) -> bool:
    """Store the blob at ``loc`` of ``source`` in a new pack; False when it does not read
    back sound."""
    try:
        content = source.content(loc)
        if isinstance(content, bytes):
            writer.add(loc.blob_id, content, force=True)
        else:
            writer.add_file(loc.blob_id, loc.raw_size, content, force=True)
    except (IntegrityError, FileChangedError, OSError):
        return False
    return True


def publish(
    repo: CachedRepository, found: Audit, notes: dict[str, bytes | None]
) -> None:
    """The module docstring's order; ``notes``: checkpoint id -> its damage note's bytes
    (None: removed). The caller holds the remote lock."""
    sync = repo.sync
    sync.push_packs(repo)
    for name in found.reindex:
        sync.check_lock()
        sync.sealed.put(INDEX + name, encode_index(found.sound[name]))
    for cid, body in notes.items():
        sync.check_lock()
        if body is None:
            sync.sealed.delete(note_name(sync, cid))
        else:
            sync.sealed.put(note_name(sync, cid), cid.encode() + b"\n" + body)
    test_point("repair-uploaded")
    if found.doomed or notes:
        sync.bump_generation()
    for name in found.doomed:
        sync.check_lock()
        sync.sealed.delete(INDEX + name)
        test_point("repair-index-deleted")
        sync.sealed.delete(pack_object(name))
    sync.sync_packs(repo)  # forgets the doomed ones (index rows, cached copies)
    _save_pulled(repo, sync.generation_tag())
    sync.generation = sync.generation_tag()  # this process's own change


def note_name(sync: RemoteSync, cid: str) -> str:
    return DAMAGED + sync.sealed.content_id(cid.encode())


def sweep_orphans(sync: RemoteSync, live: set[str]) -> None:
    """Delete marks objects and damage notes of checkpoints not in ``live`` (every record and
    forgotten record the remote keeps). The caller holds the remote lock."""
    for prefix in (MARKS, DAMAGED):
        keep = {prefix + sync.sealed.content_id(cid.encode()) for cid in live}
        for info in sync.sealed.list(prefix):
            if info.name not in keep:
                sync.check_lock()
                sync.sealed.delete(info.name)


def live_ids(repo: Repository) -> set[str]:
    """The checkpoint ids of the cache's records and forgotten records."""
    return {p.stem for d in (repo.records_dir, repo.forgotten_dir) for p in d.glob("*.json")}


def pull_damage(sync: RemoteSync, repo: Repository) -> None:
    """Mirror the remote's notes into the cache's ``damaged/`` when ``gc-generation`` changed
    since the last mirror (every repair that changes a note replaces it)."""
    path = repo.path / PULLED_DAMAGE
    try:
        if json.loads(path.read_bytes()) == sync.generation:
            return
    except (OSError, ValueError):
        pass
    folder = repo.path / FOLDER
    local = {note_name(sync, p.stem): p for p in folder.glob("*.json")}
    remote = {info.name for info in sync.sealed.list(DAMAGED)}
    for name, note in local.items():
        if name not in remote:
            note.unlink(missing_ok=True)
    for name in sorted(remote - local.keys()):
        cid, _, body = sync.sealed.get(name).partition(b"\n")
        folder.mkdir(mode=0o700, exist_ok=True)
        write_atomic(folder / f"{cid.decode()}.json", body)
    _save_pulled(repo, sync.generation)


def _save_pulled(repo: Repository, tag: str | None) -> None:
    write_atomic(repo.path / PULLED_DAMAGE, json.dumps(tag).encode())
