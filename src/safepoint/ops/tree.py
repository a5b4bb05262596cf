"""The working tree as entries with content hashes: scan, then hash what the stat cache does not
vouch for. With a ``BlobWriter`` the content read is also stored (a checkpoint); without one it
is only hashed (status, diff, a dry-run).

Files are read, hashed and compressed in a small thread pool (hashlib and zstandard release the
GIL). A file that changes while it is read is read again; a blob always holds exactly the bytes
its id was computed from.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from safepoint.errors import OperationalError
from safepoint.ops.site import Site
from safepoint.parallel import map_batches
from safepoint.progress import NullProgress, Progress
from safepoint.scan.entry import FILE, Entry
from safepoint.scan.statcache import cached_hashes, save_cache
from safepoint.scan.walk import scan_tree
from safepoint.store.pack import CHUNK, LARGE
from safepoint.store.repository import BlobWriter, FileChangedError

READ_ATTEMPTS = 3


@dataclass
class Tree:
    entries: list[Entry]
    taken_ns: int  # when the scan started (the stat cache's racy threshold)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    hashed: int = 0  # files read this time; the rest came from the stat cache

    def save_cache(self, site: Site, *, stored: bool) -> None:
        """Keep what was hashed for next time (nothing to do when nothing was hashed)."""
        if self.hashed:
            path = site.repository.statcache_path
            save_cache(path, self.entries, self.taken_ns, stored=stored)


def read_tree(
    site: Site, *, writer: BlobWriter | None = None, progress: Progress | None = None
) -> Tree:
    repo = site.repository
    progress = progress or NullProgress()
    taken_ns = time.time_ns()
    scan = scan_tree(site.root, site.rules)
    # Entries are replaced in place (never copied): on a large tree each copy costs as much
    # memory as the scan itself.
    entries: list[Entry | None] = scan.entries  # type: ignore[assignment]
    # A checkpoint trusts only a cache whose hashes were all stored (written by create or
    # rollback; status hashes without storing). gc removes the cache with the blobs.
    stored_only = writer is not None
    cached = dict(cached_hashes(repo.statcache_path, scan.entries, stored_only=stored_only))
    todo = [i for i, e in enumerate(scan.entries) if e.kind == FILE and i not in cached]
    for i, blob in cached.items():
        entries[i] = scan.entries[i].with_blob(blob)
    del cached

    root = os.fspath(site.root)
    progress.start(
        "reading" if writer is None else "checkpoint", sum(scan.entries[i].size for i in todo)
    )  # type: ignore[union-attr]

    def one(batch: list[int]) -> list[Entry | None]:
        return hash_files(root, [entries[i] for i in batch], writer, progress)  # type: ignore[misc]

    results = map_batches(one, todo, lambda i: scan.entries[i].size)  # type: ignore[union-attr]
    for i, result in zip(todo, results, strict=True):
        entries[i] = result
    progress.finish()
    if any(e is None for e in entries):
        entries[:] = [e for e in entries if e is not None]
    return Tree(entries, taken_ns, scan.skipped, len(todo))  # type: ignore[arg-type]


def hash_files(
    root: str, batch: list[Entry], writer: BlobWriter | None, progress: Progress
) -> list[Entry | None]:
    """Read, hash (and with a writer, store) a group of files. Each result is the file's entry
    with its blob id and the stat it had while read; None if it vanished since the scan."""
    read = [_read_file(root, entry, writer) for entry in batch]
    if writer is not None:
        writer.add_many([(bytes.fromhex(e.blob or ""), d) for e, d in read if e and d is not None])
    progress.advance(sum(entry.size for entry in batch))
    return [e for e, _ in read]


def _read_file(
    root: str, entry: Entry, writer: BlobWriter | None
) -> tuple[Entry | None, bytes | None]:
    """(entry, content); a large file is stored here, piece by piece, and its content is None."""
    path = os.path.join(root, entry.path)
    for _ in range(READ_ATTEMPTS):
        try:
            if entry.size > LARGE:
                st, blob = _hash_large(path, writer)
                data = None
            else:
                data, st = read_stable(path)
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


def _hash_large(path: str, writer: BlobWriter | None) -> tuple[os.stat_result | None, str]:
    """Hash a large file in pieces, then (with a writer) store it in pieces read again; the
    second read must give the same hash (FileChangedError otherwise)."""
    digest = hashlib.sha256()
    with _open(path) as f:
        before = os.fstat(f.fileno())
        while chunk := f.read(CHUNK):
            digest.update(chunk)
        after = os.fstat(f.fileno())
    if _signature(before) != _signature(after):
        return None, ""
    if writer is not None:
        writer.add_file(digest.digest(), after.st_size, _pieces(path))
    return after, digest.hexdigest()


def _pieces(path: str) -> Iterator[bytes]:
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
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if _signature(before) != _signature(after) or len(data) != after.st_size:
        return data, None
    return data, after


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns
