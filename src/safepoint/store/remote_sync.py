"""A remote repository seen through a local cache repository.

The remote storage (``s3://...``, sealed: ``store/backend/encrypted.py``) is the truth. Each
site root keeps a local repository of the ordinary layout in its state folder
(``ROOT/.safepoint-state/REPO-ID/cache``, see store/state.py): its index, the packs it wrote
or downloaded, copies of the records and marks. Every command works on that cache, so a local
read costs what it costs today; this module keeps it in step with the remote:

- ``pull`` (on open, and again under the lock): records and marks the cache lacks are
  downloaded (small sealed objects), and for each remote pack the cache's index does not know,
  its **index object** ``index/NAME`` (a sealed list of the pack's blob locations) is read, so
  that the cache knows every blob without downloading packs;
- before a restore or rollback reads blobs, ``fetch_all`` downloads the packs they lie in that
  the cache lacks, whole, a few at once (``PARALLEL``, each holding one ``FETCH_PIECE`` in
  memory, however many packs); a blob read later whose pack is not in the cache is read after
  ``fetch`` downloads that pack (one download per pack, however many threads want it);
- ``push`` (at the end of a writer's lock): packs the remote lacks are uploaded whole
  (streamed, a few at once), each followed by its index object, and only then the records the
  remote lacks and changed marks. A writer killed during an upload leaves at most packs that no
  record names (a later push uploads the record after them).

``forget`` and ``undelete`` move a record between ``checkpoints/`` and ``forgotten/`` on the
remote (a pull moves the cache's copy likewise). Only ``gc`` deletes packs on the remote
(store/remote_gc.py): it replaces the sealed ``gc-generation`` object first, and a pull that
finds packs gone forgets them in the cache (index and cached copies), so dedup never trusts
them again; a push whose pull saw another generation checks its records first.

Remote names reveal nothing of the content: packs keep their random names, a record is
``checkpoints/content_id(record)`` and marks ``marks/content_id(checkpoint id)`` (keyed hash);
every object but the key slots and the lock is sealed.

Writers hold the remote ``RemoteLock`` (store/backend/lock.py) for the whole lock block:
another host's writer waits for it (``--wait``) and is then refused with the holder named.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safepoint.errors import IntegrityError, OperationalError
from safepoint.parallel import ordered
from safepoint.progress import NullProgress, Progress
from safepoint.store.atomic import atomic_file, write_atomic
from safepoint.store.backend.base import ObjectInfo, Storage
from safepoint.store.backend.encrypted import EncryptedStorage
from safepoint.store.backend.lock import DEFAULT_WAIT, RemoteLock
from safepoint.store.generation import RepositoryChangedError
from safepoint.store.pack import Location, pack_path, scan_pack
from safepoint.store.records import combined_marks, read_marks_doc, this_host
from safepoint.store.remote_names import record_names
from safepoint.store.transfer import Counted, Transfer

if TYPE_CHECKING:
    from safepoint.store.repository import Repository

RECORDS, MARKS, PACKS, INDEX = "checkpoints/", "marks/", "packs/", "index/"
FORGOTTEN = "forgotten/"
GENERATION = "gc-generation"  # replaced by every gc on the remote before it deletes anything
SEEN_PACKS = "remote-packs.json"  # in the cache: the remote's packs at the last pull
PARALLEL = 4  # uploads and downloads at once: each holds at most one 8 MiB part in memory
FETCH_PIECE = 8 << 20  # a multiple of the sealed segment (64 KiB)
PUSHED_MARKS = "pushed-marks.json"  # in the cache: marks file digest per checkpoint id
PULLED_MARKS = "pulled-marks.json"  # in the cache: marks object name -> tag last read
RECORD_NAMES = "record-names.json"  # in the cache: see store/remote_names.py
LISTED = (RECORDS, FORGOTTEN, MARKS, INDEX)  # what a pull lists, all at once


class RemoteSync:
    def __init__(self, sealed: EncryptedStorage, plain: Storage, *, wait: float = DEFAULT_WAIT):
        self.sealed = sealed
        self.plain = plain  # the lock object is plain JSON (store/backend/lock.py)
        self.wait = wait
        self.url = plain.url
        self.transfer = Transfer()
        self.progress: Progress = NullProgress()  # packs' bytes up and down (the caller's bar)
        self.remote_packs: set[str] = set()
        self.remote_records: set[str] = set()  # their names, at the last pull or push
        self._fetching: dict[str, threading.Lock] = {}
        self._fetch_lock = threading.Lock()
        self.lock: RemoteLock | None = None
        self.generation: str | None = None  # gc-generation's tag at the last pull
        self.vanished = False  # a pull forgot packs gone from the remote (a gc elsewhere)

    # -- names ------------------------------------------------------------------------------
    def record_name(self, body: bytes) -> str:
        return RECORDS + self.sealed.content_id(body)

    def marks_name(self, cid: str) -> str:
        return MARKS + self.sealed.content_id(cid.encode())

    def names(self, prefix: str) -> set[str]:
        return _names(prefix, list(self.sealed.list(prefix)))

    # -- pull -------------------------------------------------------------------------------
    def pull(self, repo: Repository) -> None:
        """Bring the cache up to date with the remote: records (and which are forgotten),
        marks that changed, and the index objects of packs the cache does not know."""
        self.generation = self.generation_tag()  # before the listings: see push
        with ThreadPoolExecutor(PARALLEL) as pool:  # one round trip instead of four
            listings = ordered(pool, lambda prefix: list(self.sealed.list(prefix)), LISTED)
            lists = dict(zip(LISTED, listings, strict=True))
        remote, gone = _names(RECORDS, lists[RECORDS]), _names(FORGOTTEN, lists[FORGOTTEN])
        self.remote_records = remote | gone
        listed, forgotten = self.local_names(repo, repo.records_dir, repo.forgotten_dir)
        for name, path in listed.items():
            if name in gone and name not in remote:  # forgotten from another host
                _move(path, repo.forgotten_dir / path.name)
        for name, path in forgotten.items():
            if name in remote:  # undeleted from another host
                _move(path, repo.records_dir / path.name)
            elif name not in gone:  # dropped for good by a gc elsewhere
                path.unlink(missing_ok=True)
        new = sorted(remote - listed.keys() - forgotten.keys())
        with ThreadPoolExecutor(PARALLEL) as pool:  # a fresh host reads the whole catalogue
            for body in ordered(pool, lambda name: self._get(RECORDS + name), new):
                write_atomic(repo.records_dir / f"{hashlib.sha256(body).hexdigest()}.json", body)
        self._pull_marks(repo, lists[MARKS])
        from safepoint.store.remote_repair import pull_damage

        pull_damage(self, repo)  # what a repair marked damaged (only after a repair or gc)
        self.sync_packs(repo, listed=_names(INDEX, lists[INDEX]))

    def sync_packs(
        self, repo: Repository, *, keep: Iterable[str] = (), listed: set[str] | None = None
    ) -> None:
        """Index the packs new on the remote; forget those a gc deleted there since the last
        pull (their rows, cached copies and the tree cache), except ``keep`` (local copies a
        writer is about to upload again). A blob a gc moved may be placed in a pack this cache
        had indexed before: after forgetting, every index object is read again, so that it is
        found in its new pack. ``listed``: the index objects on the remote, if just listed."""
        now = self.names(INDEX) if listed is None else listed
        seen_path = repo.path / SEEN_PACKS
        try:
            seen = set(json.loads(seen_path.read_bytes()))
        except (OSError, ValueError, TypeError):
            seen = set()
        gone = sorted(seen - now - set(keep))
        lost = 0
        if gone:
            self.vanished = True
            lost = repo.index.forget_packs(gone)
            repo.close_packs()
            for name in gone:
                pack_path(repo.packs_dir, name).unlink(missing_ok=True)
            repo.cache_path.unlink(missing_ok=True)  # it vouches that its blobs are stored
        known = set() if lost else repo.index.known_packs()
        new = sorted(now - known)
        with ThreadPoolExecutor(PARALLEL) as pool:
            docs = ordered(pool, lambda pack: self._get(INDEX + pack), new)
            for pack, doc in zip(new, docs, strict=True):
                try:
                    repo.index.add(decode_index(pack, doc))
                except IntegrityError:
                    continue  # unreadable: its blobs read as missing until 'safepoint repair index'
        self.remote_packs = now
        self.save_seen(repo)

    def save_seen(self, repo: Repository) -> None:
        path = repo.path / SEEN_PACKS
        doc = json.dumps(sorted(self.remote_packs)).encode()
        try:
            same = path.read_bytes() == doc
        except OSError:
            same = False
        if not same:
            write_atomic(path, doc)

    def generation_tag(self) -> str | None:
        info = self.sealed.stat(GENERATION)
        return None if info is None else info.tag

    def bump_generation(self) -> None:
        """Before a gc deletes anything: writers that pulled before it check their records."""
        self.check_lock()
        self._put(GENERATION, os.urandom(16).hex().encode())

    def local_names(self, repo: Repository, *folders: Path) -> list[dict[str, Path]]:
        """Remote name (content_id) -> file, for the records in each of ``folders``."""
        return record_names(repo.path / RECORD_NAMES, folders, self.sealed.content_id)

    def _pull_marks(self, repo: Repository, listing: list[ObjectInfo]) -> None:
        """Marks objects whose tag changed since the last pull (``pulled-marks.json``)."""
        seen_path = repo.path / PULLED_MARKS
        try:
            seen = json.loads(seen_path.read_bytes())
        except (OSError, ValueError):
            seen = {}
        now = {info.name: info.tag for info in listing}
        host = this_host()
        for name, tag in sorted(now.items()):
            if seen.get(name) == tag:
                continue
            cid, _, doc = self._get(name).partition(b"\n")
            target = repo.marks_dir / f"{cid.decode()}.json"
            ours = read_marks_doc(target)
            theirs = _json_object(doc)
            body = doc if ours is None else _dump(
                combined_marks(theirs, ours, host, our_pinned=False)
            )
            try:
                same = target.read_bytes() == body
            except OSError:
                same = False
            if not same:
                write_atomic(target, body)
        if now != seen:
            write_atomic(seen_path, json.dumps(now).encode())

    def forget(self, body: bytes, *, undo: bool = False) -> None:
        """Move a record between ``checkpoints/`` and ``forgotten/`` on the remote (a copy,
        then the delete: a crash between leaves it in both, which reads as listed). The
        caller holds the remote lock."""
        name = self.sealed.content_id(body)
        src, dst = (FORGOTTEN, RECORDS) if undo else (RECORDS, FORGOTTEN)
        self.check_lock()
        if undo and self.sealed.stat(src + name) is None and self.sealed.stat(dst + name) is None:
            raise IntegrityError(
                f"that checkpoint was removed for good from {self.url} by a gc on another host"
            )
        self._put(dst + name, body)
        self.sealed.delete(src + name)

    def pack_sizes(self) -> dict[str, int]:
        """Every pack on the remote and its (plain) size (check)."""
        return {info.name.rsplit("/", 1)[1]: info.size for info in self.sealed.list(PACKS)}

    def _get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        data = self.sealed.get(name, offset, length)
        self.transfer.add(received=len(data))
        return data

    # -- fetch ------------------------------------------------------------------------------
    def fetch(self, packs_dir: Path, name: str, info: ObjectInfo | None = None) -> bool:
        """Download pack ``name`` into the cache (``info``: its remote object, if known);
        False when the remote has no such pack."""
        with self._fetch_lock:
            lock = self._fetching.setdefault(name, threading.Lock())
        with lock:
            path = pack_path(packs_dir, name)
            if path.exists():
                return True
            if name not in self.remote_packs:
                return False
            remote = pack_object(name)
            info = info or self.sealed.stat(remote)
            if info is None:
                if self.generation_tag() != self.generation:  # a gc elsewhere: not damage
                    raise RepositoryChangedError(
                        f"pack {name} was removed from {self.url} by a gc on another host "
                        "while this command ran; run it again"
                    )
                raise IntegrityError(f"pack {name} is missing from {self.url}")
            path.parent.mkdir(mode=0o700, exist_ok=True)
            with atomic_file(path) as f:  # in ranges: a pack of one huge blob is never in memory
                for offset in range(0, max(info.size, 1), FETCH_PIECE):
                    piece = self._get(remote, offset, FETCH_PIECE)
                    f.write(piece)
                    self.progress.advance(len(piece))
            return True

    def fetch_all(self, packs_dir: Path, names: Iterable[str]) -> None:
        """Download the packs among ``names`` that the cache lacks, ``PARALLEL`` at once, with
        the caller's progress bar: before a restore reads their blobs, so that its readers
        never wait on one pack after another."""
        wanted = sorted(
            n for n in set(names) if n in self.remote_packs and not pack_path(packs_dir, n).exists()
        )
        if not wanted:
            return
        with ThreadPoolExecutor(PARALLEL) as pool:
            infos = list(ordered(pool, lambda n: self.sealed.stat(pack_object(n)), wanted))
            self.progress.start("downloading", sum(i.size for i in infos if i is not None))
            try:
                pairs = zip(wanted, infos, strict=True)
                list(ordered(pool, lambda pair: self.fetch(packs_dir, *pair), pairs))
            finally:
                self.progress.finish()

    # -- push -------------------------------------------------------------------------------
    def push(self, repo: Repository) -> None:
        """Upload what the remote lacks: packs and their index objects, then records, then
        changed marks. The caller holds the remote lock."""
        if self.vanished or self.generation_tag() != self.generation:
            from safepoint.store.remote_gc import check_pending

            check_pending(self, repo)  # a gc ran since the pull: records may name lost data
        with ThreadPoolExecutor(3) as pool:  # one round trip instead of three
            index, records, forgotten = ordered(pool, self.names, (INDEX, RECORDS, FORGOTTEN))
        self.push_packs(repo, listed=index)
        self.remote_records = records | forgotten
        [local] = self.local_names(repo, repo.records_dir)
        for name, path in sorted(local.items()):
            if name not in self.remote_records:
                self.check_lock()
                self._put(RECORDS + name, path.read_bytes())
                self.remote_records.add(name)
        marks_dir = repo.marks_dir
        self.push_marks(marks_dir, repo.path, (p.stem for p in marks_dir.glob("*.json")))

    def unpushed(self, repo: Repository) -> bool:
        """Whether the cache holds something the remote lacked at the last pull or push (packs,
        records, marks), judged from local files only: a writer that stored nothing takes no
        remote lock to find out."""
        local = local_packs(repo).keys()
        [records] = self.local_names(repo, repo.records_dir)
        ids = [p.stem for p in repo.marks_dir.glob("*.json")]
        return bool(
            local - self.remote_packs
            or records.keys() - self.remote_records
            or self._changed_marks(repo.marks_dir, repo.path, ids)[1]
        )

    def push_packs(self, repo: Repository, *, listed: set[str] | None = None) -> None:
        """Upload the cache's packs the remote lacks, each followed by its index object
        (``listed``: the index objects on the remote, if just listed)."""
        local = local_packs(repo)
        new = sorted(local.keys() - (self.names(INDEX) if listed is None else listed))
        if not new:
            return
        self.progress.start("uploading", sum(local[n].stat().st_size for n in new))
        try:
            with ThreadPoolExecutor(PARALLEL) as pool:
                list(ordered(pool, lambda n: self._put_pack(n, local[n]), new))
        finally:
            self.progress.finish()
        self.remote_packs |= set(new)
        self.save_seen(repo)

    def push_marks(self, marks_dir: Path, cache: Path, ids: Iterable[str]) -> None:
        pushed, changed = self._changed_marks(marks_dir, cache, ids)
        for cid, doc, digest in changed:
            self._put_marks(cid, _json_object(doc))
            pushed[cid] = digest
        if changed:
            write_atomic(cache / PUSHED_MARKS, json.dumps(pushed).encode())

    def _changed_marks(
        self, marks_dir: Path, cache: Path, ids: Iterable[str]
    ) -> tuple[dict[str, str], list[tuple[str, bytes, str]]]:
        """The digests of the marks last pushed, and (id, marks file, digest) of each of
        ``ids`` whose marks changed since."""
        try:
            pushed = json.loads((cache / PUSHED_MARKS).read_bytes())
        except (OSError, ValueError):
            pushed = {}
        changed = []
        for cid in ids:
            try:
                doc = (marks_dir / f"{cid}.json").read_bytes()
            except OSError:
                continue
            digest = hashlib.sha256(doc).hexdigest()
            if pushed.get(cid) != digest:
                changed.append((cid, doc, digest))
        return pushed, changed

    def _put_marks(self, cid: str, ours: dict[str, Any]) -> None:
        """Write this host's mark and pinned into the remote's marks object of ``cid``,
        keeping what other hosts wrote there: read, combine, then write only over the version
        read (put-if-match), again if another host wrote in between."""
        name, host = self.marks_name(cid), this_host()
        for _ in range(20):
            info = self.sealed.stat(name)
            theirs = {} if info is None else _json_object(self._get(name).partition(b"\n")[2])
            body = cid.encode() + b"\n" + _dump(
                combined_marks(theirs, ours, host, our_pinned=True)
            )
            done = (
                self.sealed.put_if_absent(name, body)
                if info is None
                else self.sealed.put_if_match(name, body, info.tag) is not None
            )
            if done:
                self.transfer.add(sent=len(body))
                return
        raise OperationalError(f"the marks of {cid[:12]} kept changing on {self.url}; try again")

    def _put_pack(self, name: str, path: Path) -> None:
        self.check_lock()
        with open(path, "rb") as f:
            self.sealed.put(pack_object(name), Counted(f, self.progress))  # type: ignore[arg-type]
        self.transfer.add(sent=path.stat().st_size)
        self._put(INDEX + name, encode_index(scan_pack(path)))

    def _put(self, name: str, data: bytes) -> None:
        self.sealed.put(name, data)
        self.transfer.add(sent=len(data))

    def check_lock(self) -> None:
        if self.lock is not None:
            self.lock.check()

    def remote_lock(self) -> RemoteLock:
        return RemoteLock(self.plain, wait=self.wait)


def _names(prefix: str, listing: list[ObjectInfo]) -> set[str]:
    return {info.name[len(prefix) :] for info in listing}


def pack_object(name: str) -> str:
    """The object name of pack ``name`` on the remote."""
    return PACKS + name[:2] + "/" + name


def local_packs(repo: Repository) -> dict[str, Path]:
    """Pack name -> file, for the packs in the cache."""
    return {p.name.removesuffix(".pack"): p for p in repo.packs_dir.glob("*/*.pack")}


def _move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(mode=0o700, exist_ok=True)
    os.replace(src, dst)


def _json_object(doc: bytes) -> dict[str, Any]:
    try:
        value = json.loads(doc)
    except ValueError:
        return {}  # marks are advisory: a damaged copy reads as none
    return value if isinstance(value, dict) else {}


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True).encode()


def encode_index(locations: Iterable[Location]) -> bytes:
    rows = [
        [loc.blob_id.hex(), loc.offset, loc.stored_size, loc.raw_size, loc.codec]
        for loc in locations
    ]
    return json.dumps(rows).encode()


def decode_index(pack: str, data: bytes) -> list[Location]:
    try:
        rows = json.loads(data)
        return [Location(bytes.fromhex(r[0]), pack, *map(int, r[1:5])) for r in rows]
    except (ValueError, TypeError, IndexError) as exc:
        raise IntegrityError(f"the index object of pack {pack} is damaged: {exc}") from None
