"""Pack files: many blobs appended to one file, each self-describing, so the index can be
rebuilt from the packs alone.

Layout of ``packs/<xx>/<name>.pack`` (all integers big-endian)::

    b"SPPACK" version:u16                          8-byte file header
    then records, back to back:
    b"B" blob_id:32 bytes codec:u8 raw_size:u64 stored_size:u64 stored bytes

``codec`` 0 stores the bytes as they are (already-compressed content such as images), 1 stores
them zstd-compressed. ``blob_id`` is the SHA-256 of the raw content. A pack is written as
``<name>.pack.tmp`` and renamed once complete and fsynced; a ``.tmp`` left by a crash belongs to
no checkpoint and is removed by the next writer (store/upkeep.py).
"""

from __future__ import annotations

import os
import secrets
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from safepoint.diskspace import with_path
from safepoint.errors import IntegrityError
from safepoint.model.blobs import CHUNK, LARGE  # noqa: F401  (the store reads and writes by them)
from safepoint.store.atomic import fsync_dir

FILE_HEADER = b"SPPACK" + struct.pack(">H", 1)
RECORD = struct.Struct(">c32sBQQ")
RECORD_SIZE = RECORD.size
RAW, ZSTD = 0, 1
PACK_TARGET_SIZE = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Location:
    """Where a blob lives: ``offset`` is the start of its record."""

    blob_id: bytes
    pack: str
    offset: int
    stored_size: int
    raw_size: int
    codec: int


def pack_order(loc: Location) -> tuple[str, int]:
    """Reading blobs in this order reads each pack once, front to back."""
    return loc.pack, loc.offset


def pack_path(packs_dir: Path, name: str) -> Path:
    return packs_dir / name[:2] / f"{name}.pack"


class PackWriter:
    """Appends blobs to new packs. Thread-safe; ``commit`` makes them durable and returns their
    locations, ``abort`` removes everything written."""

    def __init__(self, packs_dir: Path, *, target_size: int = PACK_TARGET_SIZE) -> None:
        self._dir = packs_dir
        self._target = target_size
        self._lock = threading.Lock()
        self._file: tuple[str, int, int] | None = None  # (name, fd, size)
        self._done: list[str] = []
        self._locations: list[Location] = []
        self.stored_bytes = 0

    def add(self, blob_id: bytes, raw_size: int, codec: int, data: bytes) -> None:
        record = RECORD.pack(b"B", blob_id, codec, raw_size, len(data))
        with self._lock:
            name, fd, size = self._current()
            try:
                _write_all(fd, record)
                _write_all(fd, data)
            except OSError as exc:
                raise with_path(exc, self._tmp(name)) from None
            self._locations.append(Location(blob_id, name, size, len(data), raw_size, codec))
            size += RECORD_SIZE + len(data)
            self.stored_bytes += RECORD_SIZE + len(data)
            self._file = (name, fd, size)
            if size >= self._target:
                self._close_current()

    def add_stream(
        self, blob_id: bytes, raw_size: int, codec: int, chunks: Iterable[bytes]
    ) -> None:
        """``add`` for a blob too large to hold in memory: ``chunks`` are its stored bytes. If
        they raise, the pack is cut back to where the record began and the error re-raised."""
        with self._lock:
            name, fd, start = self._current()
            stored = 0
            try:
                _write_all(fd, RECORD.pack(b"B", blob_id, codec, raw_size, 0))
                for chunk in chunks:
                    _write_all(fd, chunk)
                    stored += len(chunk)
                os.pwrite(fd, RECORD.pack(b"B", blob_id, codec, raw_size, stored), start)
            except BaseException as exc:
                os.ftruncate(fd, start)
                os.lseek(fd, start, os.SEEK_SET)
                if isinstance(exc, OSError):
                    raise with_path(exc, self._tmp(name)) from None
                raise
            self._locations.append(Location(blob_id, name, start, stored, raw_size, codec))
            size = start + RECORD_SIZE + stored
            self.stored_bytes += RECORD_SIZE + stored
            self._file = (name, fd, size)
            if size >= self._target:
                self._close_current()

    def commit(self) -> list[Location]:
        with self._lock:
            self._close_current()
            for name in self._done:
                final = pack_path(self._dir, name)
                os.replace(final.with_suffix(".pack.tmp"), final)
            for parent in {pack_path(self._dir, n).parent for n in self._done}:
                fsync_dir(parent)
            locations, self._locations, self._done = self._locations, [], []
            return locations

    def abort(self) -> None:
        with self._lock:
            if self._file is not None:
                os.close(self._file[1])
                self._done.append(self._file[0])
                self._file = None
            for name in self._done:
                tmp = pack_path(self._dir, name).with_suffix(".pack.tmp")
                tmp.unlink(missing_ok=True)
            self._done, self._locations = [], []

    def _tmp(self, name: str) -> Path:
        return pack_path(self._dir, name).with_suffix(".pack.tmp")

    def _current(self) -> tuple[str, int, int]:
        if self._file is None:
            name = secrets.token_hex(16)
            path = self._tmp(name)
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._file = (name, fd, len(FILE_HEADER))
            try:
                _write_all(fd, FILE_HEADER)
            except OSError as exc:
                raise with_path(exc, path) from None
        return self._file

    def _close_current(self) -> None:
        if self._file is None:
            return
        name, fd, _ = self._file
        self._file = None
        self._done.append(name)  # so that abort removes it if the fsync fails
        try:
            os.fsync(fd)
        except OSError as exc:
            raise with_path(exc, self._tmp(name)) from None
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def check_header(fd: int, loc: Location) -> None:
    """Check the record header at ``loc`` says what the index says (the blob is read apart)."""
    _check(os.pread(fd, RECORD_SIZE, loc.offset), loc)


def read_record(fd: int, loc: Location) -> bytes:
    """The stored bytes of the blob at ``loc``, after checking the record header."""
    raw = os.pread(fd, RECORD_SIZE + loc.stored_size, loc.offset)
    if len(raw) != RECORD_SIZE + loc.stored_size:
        raise IntegrityError(f"pack {loc.pack} is truncated at blob {loc.blob_id.hex()}")
    _check(raw, loc)
    return raw[RECORD_SIZE:]


def _check(raw: bytes, loc: Location) -> None:
    expected = (b"B", loc.blob_id, loc.codec, loc.raw_size, loc.stored_size)
    if len(raw) < RECORD_SIZE or RECORD.unpack_from(raw) != expected:
        raise IntegrityError(f"pack {loc.pack}: damaged record header for blob {loc.blob_id.hex()}")


def scan_pack(path: Path) -> Iterator[Location]:
    """Every complete record of a pack, read from its headers alone (index rebuild)."""
    name = path.name.removesuffix(".pack")
    with path.open("rb") as f:
        if f.read(len(FILE_HEADER)) != FILE_HEADER:
            raise IntegrityError(f"{path}: not a safepoint pack (bad header)")
        offset = len(FILE_HEADER)
        size = os.fstat(f.fileno()).st_size
        while offset + RECORD_SIZE <= size:
            f.seek(offset)
            tag, blob_id, codec, raw_size, stored = RECORD.unpack(f.read(RECORD_SIZE))
            if tag != b"B" or offset + RECORD_SIZE + stored > size:
                raise IntegrityError(f"{path}: damaged record at offset {offset}")
            yield Location(blob_id, name, offset, stored, raw_size, codec)
            offset += RECORD_SIZE + stored
