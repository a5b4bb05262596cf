"""Creating a checkpoint: scan, hash what the stat cache does not know, store new blobs, write
the manifest and the record.

Files are read, hashed and compressed in a small thread pool (hashlib and zstandard release the
GIL). A file that changes while it is read is read again; a blob always holds exactly the bytes
its id was computed from. An interruption before the record is written leaves no checkpoint and
at most unreferenced pack data, which ``gc`` removes.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from safepoint.errors import OperationalError, PendingRecoveryError
from safepoint.ops.site import Site
from safepoint.progress import NullProgress, Progress
from safepoint.scan.entry import FILE, Entry
from safepoint.scan.statcache import StatCache
from safepoint.scan.walk import scan_tree
from safepoint.store.records import Checkpoint, now_iso
from safepoint.store.repository import BlobWriter

WORKERS = 4
READ_ATTEMPTS = 3


@dataclass(frozen=True)
class CreateResult:
    checkpoint: Checkpoint
    entries: list[Entry]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    hashed: int = 0  # files read this time (the rest came from the stat cache)


def create_checkpoint(
    site: Site,
    *,
    label: str | None = None,
    note: str | None = None,
    kind: str = "manual",
    progress: Progress | None = None,
) -> CreateResult:
    """Make a checkpoint of the site's current tree (takes the repository lock)."""
    repo = site.repository
    with repo.lock():
        if repo.journal_path.exists():
            raise PendingRecoveryError(
                "an interrupted rollback is pending; run 'safepoint recover' first"
            )
        return take_checkpoint(site, label=label, note=note, kind=kind, progress=progress)


def take_checkpoint(
    site: Site,
    *,
    label: str | None,
    note: str | None,
    kind: str,
    extra: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> CreateResult:
    """The work of ``create_checkpoint``; the caller holds the repository lock."""
    repo = site.repository
    progress = progress or NullProgress()
    taken_ns = time.time_ns()
    scan = scan_tree(site.root, site.rules)
    cache = StatCache.load(repo.statcache_path)
    entries = scan.entries
    todo: list[int] = []
    for i, e in enumerate(entries):
        if e.kind == FILE:
            blob = cache.lookup(e)
            if blob is None:
                todo.append(i)
            else:
                entries[i] = e.with_blob(blob)

    root = os.fspath(site.root)
    progress.start("checkpoint", sum(entries[i].size for i in todo))
    with repo.writer() as writer:

        def store(entry: Entry) -> Entry | None:
            stored = store_file(writer, root, entry)
            progress.advance(entry.size)
            return stored

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for i, stored in zip(todo, pool.map(store, [entries[i] for i in todo]), strict=True):
                entries[i] = stored  # type: ignore[call-overload]
        entries = [e for e in entries if e is not None]
        manifest = writer.add_manifest(entries)
        writer.commit()
        new_bytes = writer.stored_bytes
    progress.finish()

    files = [e for e in entries if e.kind == FILE]
    cp = repo.save_checkpoint(
        Checkpoint(
            id="",
            created=now_iso(),
            kind=kind,
            manifest=manifest,
            files=len(files),
            bytes=sum(e.size for e in files),
            new_bytes=new_bytes,
            label=label,
            note=note,
            host=socket.gethostname(),
            user=_user(),
            extra=extra or {},
        )
    )
    StatCache.save(repo.statcache_path, entries, taken_ns)
    return CreateResult(cp, entries, scan.skipped, hashed=len(todo))


def store_file(writer: BlobWriter, root: str, entry: Entry) -> Entry | None:
    """Read one file, store its content, and return its entry with the blob id and the stat it
    had while read. None if the file vanished since the scan."""
    path = os.path.join(root, entry.path)
    for _ in range(READ_ATTEMPTS):
        try:
            data, st = read_stable(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise OperationalError(f"cannot read {path}: {exc.strerror}") from None
        if st is None:
            continue
        blob_id = hashlib.sha256(data).digest()
        writer.add(blob_id, data)
        return Entry(
            entry.path,
            FILE,
            st.st_mode & 0o7777,
            st.st_uid,
            st.st_gid,
            len(data),
            st.st_mtime_ns,
            blob=blob_id.hex(),
            ctime_ns=st.st_ctime_ns,
            ino=st.st_ino,
        )
    raise OperationalError(f"{path} kept changing while it was read; no checkpoint was made")


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


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
