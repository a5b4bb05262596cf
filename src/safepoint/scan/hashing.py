"""Reading files for their content hash: each file is read once (hashlib and zstandard release
the GIL, so callers read in a small thread pool), and read again when it changes while it is
read; a blob always holds exactly the bytes its id was computed from. With a ``BlobSink`` the
content read is also stored. A file that turns out to be a SQLite database is not read further
(and never stored), unless a rule re-includes it by name.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

from safepoint.errors import OperationalError
from safepoint.model.blobs import CHUNK, LARGE, BlobSink, FileChangedError
from safepoint.model.entry import FILE, Entry
from safepoint.progress import Progress
from safepoint.scan.runtime import DATABASE, could_be_database, file_is_database, is_database

READ_ATTEMPTS = 3

KeepDb = Callable[[str], bool]


def hash_files(
    root: str,
    batch: list[Entry],
    sink: BlobSink | None,
    progress: Progress,
    *,
    keep_db: KeepDb = lambda _: False,
) -> list[Entry | str | None]:
    """Read, hash (and with a sink, store) a group of files. Each result is the file's entry
    with its blob id and the stat it had while read; None if it vanished since the scan; why
    it is left out (a database, unless ``keep_db`` says its path is re-included)."""
    read = [_read_file(root, entry, sink, keep_db) for entry in batch]
    if sink is not None:
        stored = [(e, d) for e, d in read if isinstance(e, Entry) and d is not None]
        sink.add_many([(bytes.fromhex(e.blob or ""), d) for e, d in stored])
    progress.advance(sum(entry.size for entry in batch))
    return [e for e, _ in read]


def _read_file(
    root: str, entry: Entry, sink: BlobSink | None, keep_db: KeepDb
) -> tuple[Entry | str | None, bytes | None]:
    """(entry, content); a large file is stored here, piece by piece, and its content is None.
    A database is read no further than it takes to know: (DATABASE, None)."""
    path = os.path.join(root, entry.path)
    # A database that users write to changes between checkpoints and is read again each
    # time: its first bytes are enough (and only a file of whole pages can be one).
    peek = entry.size > LARGE or could_be_database(entry.size)
    for _ in range(READ_ATTEMPTS):
        try:
            if peek and file_is_database(path) and not keep_db(entry.path):
                return DATABASE, None
            if entry.size > LARGE:
                st, blob = _hash_large(path, sink)
                data = None
            else:
                data, st = read_stable(path)
                if is_database(data) and not keep_db(entry.path):
                    return DATABASE, None
                blob = hashlib.sha256(data).hexdigest() if st is not None else ""
        except FileNotFoundError:
            return None, None
        except FileChangedError:
            continue
        except OSError as exc:
            raise OperationalError(f"cannot read {path}: {exc.strerror}") from None
        if st is None:
            continue
        return Entry(
            entry.path,
            FILE,
            st.st_mode & 0o7777,
            st.st_uid,
            st.st_gid,
            st.st_size,
            st.st_mtime_ns,
            None,
            blob,
            st.st_ctime_ns,
            st.st_ino,
        ), data
    raise OperationalError(f"{path} kept changing while it was read; no checkpoint was made")


def _hash_large(path: str, sink: BlobSink | None) -> tuple[os.stat_result | None, str]:
    """Hash a large file in pieces, then (with a sink) store it in pieces read again; the
    second read must give the same hash (FileChangedError otherwise)."""
    digest = hashlib.sha256()
    with _open(path) as f:
        before = os.fstat(f.fileno())
        while chunk := f.read(CHUNK):
            digest.update(chunk)
        after = os.fstat(f.fileno())
    if _signature(before) != _signature(after):
        return None, ""
    if sink is not None:
        sink.add_file(digest.digest(), after.st_size, file_pieces(path))
    return after, digest.hexdigest()


def file_pieces(path: str) -> Iterator[bytes]:
    """A file's content in ``CHUNK`` pieces, for large files (never held whole)."""
    with _open(path) as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _open(path: str) -> BinaryIO:
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb")


def read_stable(path: str) -> tuple[bytes, os.stat_result | None]:
    """The content of a file and its stat, or (data, None) if it changed during the read."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        before = os.fstat(fd)
        # One read of one byte more than the size (no file object: ~4 us a file); a file that
        # grew, or a short read, is read on to its end.
        data = os.read(fd, before.st_size + 1)
        if len(data) > before.st_size or 0 < len(data) < before.st_size:
            parts = [data]
            while part := os.read(fd, CHUNK):
                parts.append(part)
            data = b"".join(parts)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if _signature(before) != _signature(after) or len(data) != after.st_size:
        return data, None
    return data, after


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns
