"""The repository: one directory (mode 0700) holding everything safepoint stores for a site::

    format.json         {"format": "safepoint-repository", "version": 1, "id": ...}
    lock                fcntl.flock target: one writer at a time (see lockinfo.py)
    packs/xx/*.pack     blobs (see pack.py)
    index.sqlite        blob id -> pack location (see index.py; rebuildable from packs)
    checkpoints/*.json  checkpoint records (see records.py), never modified
    forgotten/*.json    records taken out of the list by forget/prune, until undelete or gc
    catalogue           a cache of the records and marks (see catalogue.py)
    marks/*.json        known-good/bad and pinned marks, replaced atomically
    treecache           what each directory held when last read (see scan/treecache.py)
    head.json           the checkpoint the site's tree last matched (status compares with it)
    journal.json        present only while a rollback is being applied
    (these three: in the root's state folder, store/state.py)

Blobs are content-addressed by the SHA-256 of their plain content; every read is hash-checked,
so corruption is reported (IntegrityError), never returned. A crash leaves at worst an orphan
``.tmp`` pack or unindexed pack, which the next writer removes or indexes (upkeep.py); a
checkpoint exists once its record is renamed into place, and by then everything it refers to
is durable.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import zstandard

from safepoint.errors import FormatError, IntegrityError, LockedError, OperationalError
from safepoint.model.entry import Entry
from safepoint.store import generation, lockinfo, state
from safepoint.store.atomic import fsync_dir, write_atomic
from safepoint.store.catalogue import load_checkpoints
from safepoint.store.index import Index, rebuild_index
from safepoint.store.manifest import decode_manifest
from safepoint.store.pack import (
    CHUNK,
    LARGE,
    RAW,
    RECORD_SIZE,
    ZSTD,
    Location,
    check_header,
    pack_path,
    read_record,
)
from safepoint.store.records import (
    Checkpoint,
    Marks,
    load_record,
    save_marks,
    save_record,
)
from safepoint.store.upkeep import keep_up
from safepoint.store.writer import (
    COMPRESSION_LEVEL,
    BlobWriter,
    blob_hash,
)

FORMAT_NAME = "safepoint-repository"
FORMAT_VERSION = 1


class Repository:
    def __init__(self, path: Path, state_dir: Path | None = None) -> None:
        """``state_dir``: one root's own files (store/state.py); default: the repository."""
        self.path = path
        self.packs_dir = path / "packs"
        self.records_dir = path / "checkpoints"
        self.marks_dir = path / "marks"
        self.state_dir = path if state_dir is None else state_dir
        self.cache_path = self.state_dir / state.TREECACHE
        self.journal_path = self.state_dir / state.JOURNAL
        self.head_path = self.state_dir / state.HEAD
        self._index: Index | None = None
        self._fds: dict[str, int] = {}
        self._fd_lock = threading.Lock()
        self._local = threading.local()
        self.skipped_records: dict[Path, str] = {}  # see checkpoints()
        # Where the upkeep at lock time reports (removed leftovers, missing packs).
        self.notify: Callable[[str], None] = lambda _: None
        self.gc_seen = generation.seen(path)  # a gc after this: see store/generation.py

    # -- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def init(cls, path: Path, *, root: Path | None = None) -> Repository:
        """Create a repository at ``path``, or open the one already there (``root``: see
        ``open``)."""
        if (path / "format.json").exists():
            return cls.open(path, root=root)
        if not _unborn(path):
            raise FormatError(
                f"{path} already exists and is neither an empty folder nor a safepoint "
                "repository; refusing to make it one: set [repository] path to a new folder"
            )
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(path, 0o700)
            for sub in ("packs", "checkpoints", "marks"):
                (path / sub).mkdir(mode=0o700, exist_ok=True)
            doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "id": os.urandom(16).hex()}
            write_atomic(path / "format.json", json.dumps(doc, indent=1).encode() + b"\n")
        except OSError as exc:
            raise OperationalError(f"cannot create repository {path}: {exc.strerror}") from None
        return cls.open(path, root=root)

    @classmethod
    def open(
        cls, path: Path, *, named_in: Path | None = None, root: Path | None = None
    ) -> Repository:
        """``named_in``: the configuration that names ``path``; a repository missing there was
        moved or unmounted, and ``init`` would only start an empty one. ``root``: the site
        root whose state folder to use (store/state.py)."""
        fmt = path / "format.json"
        try:
            doc = json.loads(fmt.read_bytes())
        except FileNotFoundError:
            if named_in is not None:
                raise FormatError(
                    f"the repository {path} named in {named_in} is missing (moved, unmounted, "
                    "or a broken link?); bring it back or correct [repository] path"
                ) from None
            raise FormatError(f"no safepoint repository at {path}; run 'safepoint init'") from None
        except (OSError, ValueError) as exc:
            raise FormatError(f"{fmt}: unreadable repository format file: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
            raise FormatError(f"{path} is not a safepoint repository")
        if doc.get("version") != FORMAT_VERSION:
            raise FormatError(
                f"repository {path} has format version {doc.get('version')!r}; this safepoint "
                f"reads version {FORMAT_VERSION} only (upgrade safepoint)"
            )
        if root is None:
            return cls(path)
        return cls(path, state.prepare(root, path, state.id_of(doc, path)))

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = Index(self.path / "index.sqlite")  # its errors say how to repair it
        return self._index

    def rebuild_index(self) -> tuple[int, int, list[str]]:
        """``repair index``: a new index from the packs alone (packs, blobs, problems)."""
        with self.lock(sync_index=False):  # the old index may be too damaged to sync
            if self._index is not None:
                self._index.close()
                self._index = None
            return rebuild_index(self.path / "index.sqlite", self.packs_dir)

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
        self.close_packs()

    def close_packs(self) -> None:
        with self._fd_lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def lock(self, *, sync_index: bool = True) -> Iterator[None]:
        """Hold the write lock; fails at once (LockedError) if another process holds it."""
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                    holder = lockinfo.describe_holder(fd)
                    raise LockedError(f"repository {self.path} is locked by {holder}") from None
                raise
            lockinfo.claim(fd)
            try:
                if sync_index:
                    self._keep_up()
                yield
            finally:
                lockinfo.release(fd)
        finally:
            os.close(fd)

    def _keep_up(self) -> None:
        """On taking the lock: index, forget and sweep (see store/upkeep.py)."""
        done = keep_up(self.path, self.packs_dir, self.index, self.cache_path, self.state_dir)
        if done.missing:
            self.close_packs()
        for line in done.notices():
            self.notify(line)

    # -- blobs ----------------------------------------------------------------------------------
    def __contains__(self, blob_id: bytes) -> bool:
        return blob_id in self.index

    def stored_soundly(self, loc: Location) -> bool:
        """The pack at ``loc`` exists and its record header says what the index says: the cheap
        check a writer makes before trusting a blob it would otherwise store again."""
        try:
            check_header(self._pack_fd(loc.pack), loc)
        except (IntegrityError, OSError):
            return False
        return True

    def blob_fault(self, blob_id: bytes) -> str | None:
        """Why the repository cannot give ``blob_id`` back (missing, damaged), after reading it
        whole and checking its hash; None when it can."""
        loc = self.index.lookup(blob_id)
        if loc is None:
            return f"blob {blob_id.hex()} is missing from the repository"
        try:
            content = self.content(loc)
            if not isinstance(content, bytes):
                for _ in content:
                    pass
        except IntegrityError as exc:
            return str(exc)
        except OSError as exc:
            return f"pack {loc.pack} is unreadable: {exc.strerror}"
        return None

    def read_blob(self, blob_id: bytes) -> bytes:
        """The content of a blob, hash-checked."""
        loc = self.index.lookup(blob_id)
        if loc is None:
            generation.check_unchanged(self.path, self.gc_seen)
            raise IntegrityError(f"blob {blob_id.hex()} is missing from the repository")
        return self.read_at(loc)

    def read_at(self, loc: Location) -> bytes:
        try:
            stored = read_record(self._pack_fd(loc.pack), loc)
        except FileNotFoundError:
            return self.read_at(self._moved(loc))
        if loc.codec == ZSTD:
            try:
                data = self._decompressor().decompress(stored, max_output_size=loc.raw_size)
            except zstandard.ZstdError as exc:
                raise IntegrityError(f"blob {loc.blob_id.hex()} is damaged: {exc}") from None
        else:
            data = stored
        if len(data) != loc.raw_size or blob_hash(data) != loc.blob_id:
            raise IntegrityError(f"blob {loc.blob_id.hex()} is damaged (hash mismatch)")
        return data

    def stream_at(self, loc: Location) -> Iterator[bytes]:
        """The content of a blob in pieces, for blobs too large to hold in memory. The hash is
        checked after the last piece: IntegrityError then means what was yielded is damaged,
        and the caller must discard it (restore and rollback write to files they delete)."""
        try:
            fd = self._pack_fd(loc.pack)
        except FileNotFoundError:
            yield from self.stream_at(self._moved(loc))
            return
        check_header(fd, loc)
        region = _Region(fd, loc.offset + RECORD_SIZE, loc.stored_size)
        # stream_reader bounds each piece to CHUNK bytes of output, however well it compressed
        reader = (
            zstandard.ZstdDecompressor().stream_reader(region, read_size=CHUNK)  # type: ignore[arg-type]
            if loc.codec == ZSTD
            else region
        )
        digest = hashlib.sha256()
        size = 0
        try:
            while data := reader.read(CHUNK):
                digest.update(data)
                size += len(data)
                yield data
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"blob {loc.blob_id.hex()} is damaged: {exc}") from None
        if size != loc.raw_size or digest.digest() != loc.blob_id:
            raise IntegrityError(f"blob {loc.blob_id.hex()} is damaged (hash mismatch)")

    def prefetch(self, locations: Iterable[Location]) -> None:
        """Make the packs of ``locations`` readable before many threads read them: a cache of
        a remote repository downloads those it lacks (store/cached.py); here they are."""

    def content(self, loc: Location) -> bytes | Iterator[bytes]:
        """``read_at`` for ordinary blobs, ``stream_at`` for large ones."""
        return self.stream_at(loc) if loc.raw_size > LARGE else self.read_at(loc)

    def _moved(self, loc: Location) -> Location:
        """Where the blob of ``loc``, whose pack is gone, is now: a gc repacked it (the read
        goes on there), removed it since this command opened the repository (exit 1: run it
        again), or the pack was lost (IntegrityError)."""
        now = self.index.lookup(loc.blob_id)
        if now is not None and now.pack != loc.pack:
            return now
        generation.check_unchanged(self.path, self.gc_seen)
        raise IntegrityError(f"pack {loc.pack} is missing")

    def _pack_fd(self, name: str) -> int:
        with self._fd_lock:
            fd = self._fds.get(name)
            if fd is None:
                fd = os.open(pack_path(self.packs_dir, name), os.O_RDONLY)
                self._fds[name] = fd
            return fd

    def _decompressor(self) -> zstandard.ZstdDecompressor:
        d = getattr(self._local, "dctx", None)
        if d is None:
            d = self._local.dctx = zstandard.ZstdDecompressor()
        return d

    def _compressor(self) -> zstandard.ZstdCompressor:
        c = getattr(self._local, "cctx", None)
        if c is None:
            c = self._local.cctx = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)
        return c

    def compress(self, data: bytes) -> tuple[int, bytes]:
        """(codec, stored bytes): zstd unless that does not make the data smaller."""
        packed = self._compressor().compress(data)
        if len(packed) < len(data) - len(data) // 64:
            return ZSTD, packed
        return RAW, data

    def writer(self) -> BlobWriter:
        return BlobWriter(self)

    # -- manifests, records, marks ---------------------------------------------------------------
    def load_manifest(self, cp: Checkpoint) -> list[Entry]:
        return decode_manifest(self.read_blob(bytes.fromhex(cp.manifest)), self.read_blob)

    def save_checkpoint(self, cp: Checkpoint) -> Checkpoint:
        saved = save_record(self.records_dir, cp)
        # The same record again (an import of a forgotten checkpoint) is an undelete: a copy left
        # in forgotten/ would have gc drop the marks of a listed checkpoint.
        (self.forgotten_dir / f"{saved.id}.json").unlink(missing_ok=True)
        return saved

    def checkpoints(self, *, forgotten: bool = False) -> list[Checkpoint]:
        """All readable checkpoints, newest first (with ``forgotten``: the forgotten ones,
        which ``undelete`` can bring back). A damaged or stray ``*.json`` in ``checkpoints/``
        is left out and noted in ``skipped_records`` (which ``verify`` reports as damage): one
        bad file must not make every other checkpoint, and ``recover`` above all, unusable."""
        if forgotten:
            return self._forgotten_checkpoints()
        listing = load_checkpoints(self.catalogue_path, self.records_dir, self.marks_dir)
        for name, why in listing.skipped.items():
            self.skipped_records[self.records_dir / name] = why
        return listing.checkpoints.all()

    def listed(self) -> Sequence[Checkpoint]:
        """``checkpoints()`` built lazily, one record at a time as it is looked at: for a
        reference resolved among 10,000 (``show latest``)."""
        listing = load_checkpoints(self.catalogue_path, self.records_dir, self.marks_dir)
        for name, why in listing.skipped.items():
            self.skipped_records[self.records_dir / name] = why
        return listing.checkpoints

    def head(self) -> str | None:
        """The id of the checkpoint the site's tree last matched (created or rolled back to)."""
        try:
            return str(json.loads(self.head_path.read_bytes())["checkpoint"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def set_head(self, cp: Checkpoint) -> None:
        write_atomic(self.head_path, json.dumps({"checkpoint": cp.id}).encode() + b"\n")

    def set_marks(self, cp: Checkpoint, marks: Marks) -> Checkpoint:
        """Write this host's health mark and pinned from ``marks``; other hosts' marks stay
        as they are now."""
        return replace(cp, marks=save_marks(self.marks_dir, cp.id, marks))

    def merge_marks(self, cid: str, marks: Marks) -> None:
        """Take in marks from another repository's copy of ``cid``: each host's newest mark
        wins, and pinned stays pinned (``copy``)."""
        save_marks(self.marks_dir, cid, marks, copying=True)

    # -- forgotten checkpoints and the catalogue (forget, undelete; see store/catalogue.py) ---
    @property
    def forgotten_dir(self) -> Path:
        """``forgotten/ID.json``: records taken out of the list, byte for byte (so their ids
        still hold), until ``undelete`` puts them back or ``gc`` drops them."""
        return self.path / "forgotten"

    @property
    def catalogue_path(self) -> Path:
        return self.path / "catalogue"

    def forget(self, cp: Checkpoint) -> None:
        """Move ``cp``'s record to ``forgotten/`` (its marks stay). The caller holds the lock."""
        self.forgotten_dir.mkdir(mode=0o700, exist_ok=True)
        _move(self.records_dir / f"{cp.id}.json", self.forgotten_dir / f"{cp.id}.json")

    def undelete(self, cp: Checkpoint) -> None:
        """Put a forgotten record back in ``checkpoints/``. The caller holds the lock."""
        _move(self.forgotten_dir / f"{cp.id}.json", self.records_dir / f"{cp.id}.json")

    def read_records(self) -> list[Checkpoint]:
        """Every record read from its file, not from the catalogue (``verify``: a record
        damaged on disk since it was catalogued is damage too); fills ``skipped_records``."""
        out = []
        for path in self.records_dir.glob("*.json"):
            try:
                out.append(load_record(path, self.marks_dir))
            except IntegrityError as exc:
                self.skipped_records[path] = str(exc)
            except OSError as exc:
                self.skipped_records[path] = f"unreadable: {exc.strerror or exc}"
        out.sort(key=lambda c: c.created, reverse=True)
        return out

    def _forgotten_checkpoints(self) -> list[Checkpoint]:
        out = []
        for path in self.forgotten_dir.glob("*.json"):
            try:
                out.append(load_record(path, self.marks_dir))
            except (IntegrityError, OSError):
                continue  # damaged: gc drops it; nothing to undelete
        out.sort(key=lambda c: c.created, reverse=True)
        return out


def _move(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` durably: both directories are fsynced, so after a crash the
    record is in one place or the other, never lost."""
    os.rename(src, dst)
    fsync_dir(dst.parent)
    fsync_dir(src.parent)


def _unborn(path: Path) -> bool:
    """Whether ``path`` may become a repository: absent, empty, or holding only the empty
    folders that an ``init`` interrupted before writing ``format.json`` left."""
    try:
        children = list(path.iterdir())
    except FileNotFoundError:
        return True
    except NotADirectoryError:
        return False
    except OSError as exc:
        raise OperationalError(f"cannot read {path}: {exc.strerror}") from None
    return all(
        c.name in ("packs", "checkpoints", "marks") and c.is_dir() and not any(c.iterdir())
        for c in children
    )


class _Region:
    """A read-only file object over ``length`` bytes of ``fd`` from ``offset`` (pread)."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self._fd, self._pos, self._end = fd, offset, offset + length

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = self._end - self._pos
        data = os.pread(self._fd, min(size, self._end - self._pos), self._pos)
        self._pos += len(data)
        return data
