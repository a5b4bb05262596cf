"""The working tree as entries with content hashes: walk, then hash what the tree cache does not
vouch for. With a ``BlobWriter`` the content read is also stored (a checkpoint); without one it
is only hashed (status, diff, a dry-run).

Files are read, hashed and compressed in a small thread pool (hashlib and zstandard release the
GIL). A file that changes while it is read is read again; a blob always holds exactly the bytes
its id was computed from. A file read this way that turns out to be a SQLite database is left
out (and never stored), unless a rule re-includes it by name: content is looked at only where it
is read anyway, and the tree cache carries the verdict while the file is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import BinaryIO

from safepoint.errors import OperationalError
from safepoint.model.entry import FILE, Entry, parent_of
from safepoint.model.rows import chunk_pieces, encode_pieces
from safepoint.ops.site import Site
from safepoint.parallel import map_batches
from safepoint.progress import NullProgress, Progress
from safepoint.scan.runtime import DATABASE, could_be_database, file_is_database, is_database
from safepoint.scan.treecache import (
    RACY_MARGIN_NS,
    Block,
    TreeCache,
    load_cache,
    save_cache,
)
from safepoint.scan.walk import (
    SPECIAL,
    Known,
    Pending,
    Prefetch,
    block_entries,
    drop_siblings,
    walk,
)
from safepoint.store.pack import CHUNK, LARGE
from safepoint.store.repository import BlobWriter, FileChangedError

READ_ATTEMPTS = 3


@dataclass
class Tree:
    """The kept directories of the site in tree order, each a ``Block`` (see scan/treecache.py)."""

    blocks: list[Block]
    taken_ns: int  # when the scan started (the cache's racy threshold)
    cache: TreeCache  # what the scan started from
    hashed: int = 0  # files read this time; the rest came from the tree cache
    fresh: set[str] = field(default_factory=set)  # directories read afresh (not from the cache)
    hashed_in: set[str] = field(default_factory=set)  # directories holding files read this time
    stored: bool = False  # the files read this time were stored (a checkpoint's read)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [(_join(b.path, name), SPECIAL) for b in self.blocks for name in b.skipped]

    @property
    def excluded(self) -> list[tuple[str, str]]:
        """(path, why) of what the scan left out that is there (scan/runtime.py): databases,
        runtime state, virtual environments, what the rules exclude."""
        return [(_join(b.path, name), why) for b in self.blocks for name, why in b.excluded]

    @property
    def files(self) -> int:
        return sum(b.files for b in self.blocks)

    @property
    def size(self) -> int:
        return sum(b.size for b in self.blocks)

    @property
    def dirs(self) -> list[str]:
        return [b.path for b in self.blocks]

    @cached_property
    def entries(self) -> list[Entry]:
        """Every kept entry in tree order (decoded from the blocks: only when needed)."""
        return block_entries(self.blocks)

    def dir_entry(self, path: str) -> Entry | None:
        """The entry of a kept directory (decoded from its parent's block)."""
        parent = self._by_path.get(parent_of(path)) if path else None
        if parent is None:
            return None
        return next((e for e in block_entries([parent]) if e.path == path), None)

    @cached_property
    def _by_path(self) -> dict[str, Block]:
        return {b.path: b for b in self.blocks}

    def chunks(self) -> Iterator[tuple[bytes, int]]:
        """The manifest's chunk blobs and their entry counts (store/manifest.py), one at a
        time: on a large tree all of them at once would cost as much memory as the cache."""
        return chunk_pieces(piece for b in self.blocks for piece in b.pieces)

    def cacheable(self) -> dict[str, Block]:
        """The blocks a tree cache may keep. When the files read this time were not stored,
        their directories keep the block the cache had (if it was not racy) or none, so that
        the cache names stored blobs only."""
        if self.stored or not self.hashed_in:
            return {b.path: b for b in self.blocks}
        old = self.cache.blocks
        out: dict[str, Block] = {}
        for b in self.blocks:
            if b.path not in self.hashed_in:
                out[b.path] = b
            elif b.path in old and not old[b.path].racy:
                out[b.path] = old[b.path]
        return out

    def save_cache(self, site: Site) -> None:
        """Keep what was read for next time (nothing to do when every directory came from the
        cache)."""
        if self.fresh:
            save_cache(
                site.repository.cache_path,
                self.cacheable().values(),
                taken_ns=self.taken_ns,
                rules=site.rules.fingerprint,
            )

    def update_cache(
        self,
        site: Site,
        dirs: list[str],
        known: dict[str, Known],
        kept: dict[str, set[str]] | None = None,
    ) -> None:
        """Save the cache for the tree as it is after ``dirs`` were changed (by a rollback,
        which knows the hash of each file it wrote: ``known``, and the directories it made or
        restamped, which the rules keep: ``kept``). Only those directories are read again;
        where a file is not known, its directory is left to the next scan."""
        blocks = self.cacheable()
        cache = TreeCache(blocks, self.taken_ns, site.rules.fingerprint)
        root = site.root
        present = [d for d in dirs if (root / d).is_dir() and not (root / d).is_symlink()]
        again = read_tree(site, cache=cache, only=present, known=known, kept=kept)
        blocks.update(again.cacheable())
        # The earlier scan's start: the racy threshold that is right for every block kept.
        save_cache(
            site.repository.cache_path,
            blocks.values(),
            taken_ns=self.taken_ns,
            rules=site.rules.fingerprint,
        )


def read_tree(
    site: Site,
    *,
    writer: BlobWriter | None = None,
    progress: Progress | None = None,
    cache: TreeCache | None = None,
    only: list[str] | None = None,
    known: dict[str, Known] | None = None,
    kept: dict[str, set[str]] | None = None,
) -> Tree:
    """The site's tree with a hash for every file: from the tree cache where a directory or a
    file is unchanged, else read (and with a writer, stored). ``only`` reads just those
    directories (no descent); ``known`` and ``kept`` add what a rollback knows (see walk)."""
    progress = progress or NullProgress()
    taken_ns = time.time_ns()
    root = os.fspath(site.root)
    ahead: list[Prefetch] = []
    if cache is None:  # list the cached directories while the rest of the cache loads
        cache = load_cache(
            site.repository.cache_path,
            on_dirs=None if only is not None else lambda d: ahead.append(Prefetch(root, d)),
        )
    listings = ahead[0].result() if ahead else None
    items = list(
        walk(root, site.rules, cache, only=only, known=known, listings=listings, kept=kept)
    )
    pending = [item for item in items if isinstance(item, Pending)]
    todo = [
        (p, i) for p in pending for i, e in enumerate(p.entries) if e.kind == FILE and not e.blob
    ]
    progress.start(
        "reading" if writer is None else "checkpoint", sum(p.entries[i].size for p, i in todo)
    )

    def one(batch: list[tuple[Pending, int]]) -> list[Entry | str | None]:
        entries = [p.entries[i] for p, i in batch]
        return hash_files(root, entries, writer, progress, keep_db=site.rules.reincluded)

    results = map_batches(one, todo, lambda pi: pi[0].entries[pi[1]].size)
    for (p, i), result in zip(todo, results, strict=True):
        if isinstance(result, str):  # left out by its content
            p.excluded.append((p.entries[i].path.rpartition("/")[2], result))
            result = None
        p.entries[i] = result  # type: ignore[assignment]
    progress.finish()
    hashed, fresh, hashed_in = len(todo), {p.path for p in pending}, {p.path for p, _ in todo}
    del pending, todo
    # In place, so that each directory's entries are freed as its block is made: a first
    # checkpoint of a large tree would otherwise hold both at once.
    for k, item in enumerate(items):
        if isinstance(item, Pending):
            items[k] = _finish(item, taken_ns)
    blocks: list[Block] = items  # type: ignore[assignment]
    return Tree(blocks, taken_ns, cache, hashed, fresh, hashed_in, writer is not None)


def _finish(p: Pending, taken_ns: int) -> Block:
    """The block of a directory read afresh (files that vanished while read are left out)."""
    entries = [e for e in p.entries if e is not None]
    databases = {name for name, why in p.excluded if why == DATABASE}
    if databases:
        drop_siblings(entries, p.excluded, databases)
    files = [e for e in entries if e.kind == FILE]
    racy_from = taken_ns - RACY_MARGIN_NS
    return Block(
        p.path,
        p.listing,
        encode_pieces(entries),
        len(entries),
        p.subdirs,
        len(files),
        sum(e.size for e in files),
        any(e.mtime_ns >= racy_from for e in files),
        p.skipped,
        tuple(sorted(p.excluded)),
    )


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


KeepDb = Callable[[str], bool]


def hash_files(
    root: str,
    batch: list[Entry],
    writer: BlobWriter | None,
    progress: Progress,
    *,
    keep_db: KeepDb = lambda _: False,
) -> list[Entry | str | None]:
    """Read, hash (and with a writer, store) a group of files. Each result is the file's entry
    with its blob id and the stat it had while read; None if it vanished since the scan; why
    it is left out (a database, unless ``keep_db`` says its path is re-included)."""
    read = [_read_file(root, entry, writer, keep_db) for entry in batch]
    if writer is not None:
        stored = [(e, d) for e, d in read if isinstance(e, Entry) and d is not None]
        writer.add_many([(bytes.fromhex(e.blob or ""), d) for e, d in stored])
    progress.advance(sum(entry.size for entry in batch))
    return [e for e, _ in read]


def _read_file(
    root: str, entry: Entry, writer: BlobWriter | None, keep_db: KeepDb
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
                st, blob = _hash_large(path, writer)
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
        writer.add_file(digest.digest(), after.st_size, file_pieces(path))
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
