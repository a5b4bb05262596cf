"""The working tree as entries with content hashes: walk (``scan/walk.py``), then hash what the
tree cache (``scan/treecache.py``) does not vouch for (``scan/hashing.py``). With a ``BlobSink``
(``model/blobs.py``: the repository's writer) the content read is also stored (a checkpoint);
without one it is only hashed (status, diff, a dry-run).

Files are read in a small thread pool. A file read this way that turns out to be a SQLite
database is left out (and never stored), unless a rule re-includes it by name: content is
looked at only where it is read anyway, and the tree cache carries the verdict while the file is
unchanged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from stat import S_ISREG

from safepoint.model.blobs import BlobSink
from safepoint.model.entry import FILE, Entry, parent_of
from safepoint.model.rows import chunk_pieces, encode_pieces
from safepoint.parallel import map_batches
from safepoint.progress import NullProgress, Progress
from safepoint.scan.hashing import hash_files
from safepoint.scan.rules import Rules
from safepoint.scan.runtime import DATABASE
from safepoint.scan.treecache import (
    RACY_MARGIN_NS,
    Block,
    TreeCache,
    load_cache,
    save_cache,
)
from safepoint.scan.walk import (
    SPECIAL,
    Hashes,
    Pending,
    Prefetch,
    block_entries,
    drop_siblings,
    walk,
)


@dataclass
class Tree:
    """The kept directories of the site in tree order, each a ``Block`` (see scan/treecache.py),
    and where the tree cache they came from and go back to lives."""

    root: str
    rules: Rules
    cache_path: Path
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

    def same_as(self, other: Tree) -> bool:
        """Whether ``other`` found the same tree: the same kept entries (each file with the
        same hash and stat, as a manifest records them), and the same children left out and
        skipped, directory by directory. Listings are not compared: the tool's own files
        change between two reads, and a listing says only when to read a directory again."""
        return len(self.blocks) == len(other.blocks) and all(
            (a.path, a.pieces, a.skipped, a.excluded) == (b.path, b.pieces, b.skipped, b.excluded)
            for a, b in zip(self.blocks, other.blocks, strict=True)
        )

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

    def save_cache(self) -> None:
        """Keep what was read for next time (nothing to do when every directory came from the
        cache)."""
        if self.fresh:
            self._save(self.cacheable().values())

    def update_cache(self, dirs: list[str], written: list[Entry], ruled_in: list[str]) -> None:
        """Save the cache for the tree as it is after a rollback changed ``dirs`` (in tree
        order). ``written``: the files it wrote, each with the hash it was written from (one
        still of the size it was written with keeps that hash); ``ruled_in``: the directories
        it made or restamped whose names the rules are known to keep. Only ``dirs`` are listed
        again and no file is read: a directory holding a file that neither ``written`` nor the
        cache vouches for is left to the next scan (it keeps the block it had)."""
        blocks = self.cacheable()
        cache = TreeCache(blocks, self.taken_ns, self.rules.fingerprint)
        root = Path(self.root)
        present = [d for d in dirs if (root / d).is_dir() and not (root / d).is_symlink()]
        taken_ns = time.time_ns()
        items = walk(
            self.root,
            self.rules,
            cache,
            only=present,
            written=_written_hashes(self.root, written),
            ruled_in=_by_parent(ruled_in),
        )
        for item in items:
            if isinstance(item, Pending):
                if any(e.kind == FILE and not e.blob for e in item.entries):
                    continue
                item = _finish(item, taken_ns)
            blocks[item.path] = item
        self._save(blocks.values())

    def _save(self, blocks: Iterable[Block]) -> None:
        # The scan's start: the racy threshold that is right for every block kept (a block
        # built later only holds files clearly older than it, or is racy itself).
        save_cache(
            self.cache_path, blocks, taken_ns=self.taken_ns, rules=self.rules.fingerprint
        )


def read_tree(
    root: str | os.PathLike[str],
    rules: Rules,
    cache_path: Path,
    *,
    sink: BlobSink | None = None,
    progress: Progress | None = None,
) -> Tree:
    """The tree under ``root`` with a hash for every file: from the tree cache at
    ``cache_path`` where a directory or a file is unchanged, else read (and with a ``sink``,
    stored)."""
    progress = progress or NullProgress()
    taken_ns = time.time_ns()
    base = os.fspath(root)
    ahead: list[Prefetch] = []
    # List the cached directories while the rest of the cache loads.
    cache = load_cache(cache_path, on_dirs=lambda d: ahead.append(Prefetch(base, d)))
    listings = ahead[0].result() if ahead else None
    items = list(walk(base, rules, cache, listings=listings))
    pending = [item for item in items if isinstance(item, Pending)]
    todo = [
        (p, i) for p in pending for i, e in enumerate(p.entries) if e.kind == FILE and not e.blob
    ]
    progress.start(
        "reading" if sink is None else "checkpoint", sum(p.entries[i].size for p, i in todo)
    )

    def one(batch: list[tuple[Pending, int]]) -> list[Entry | str | None]:
        entries = [p.entries[i] for p, i in batch]
        return hash_files(base, entries, sink, progress, keep_db=rules.reincluded)

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
    return Tree(
        base, rules, cache_path, blocks, taken_ns, cache, hashed, fresh, hashed_in, sink is not None
    )


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


def _written_hashes(root: str, written: list[Entry]) -> dict[str, Hashes]:
    """By directory, the hash of each file in ``written`` that is still the file written:
    a regular file of the size it was written with (its stat as it is now goes with it)."""
    out: dict[str, Hashes] = {}
    for e in written:
        if e.kind != FILE or not e.blob:
            continue
        try:
            st = os.lstat(os.path.join(root, e.path))
        except OSError:
            continue
        if S_ISREG(st.st_mode) and st.st_size == e.size:
            parent, _, name = e.path.rpartition("/")
            out.setdefault(parent, {})[name] = (
                st.st_size,
                st.st_mtime_ns,
                st.st_ctime_ns,
                st.st_ino,
                e.blob,
            )
    return out


def _by_parent(paths: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in paths:
        parent, _, name = path.rpartition("/")
        out.setdefault(parent, set()).add(name)
    return out


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name
