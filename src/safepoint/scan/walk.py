"""Walking the tree: one listing per directory (``scan/listing.py``: every child lstat'ed, never
following symlinks), pruning excluded directories so that an excluded virtual environment costs
one ``stat``, not thousands.

``walk`` yields one item per kept directory in tree order (``model/entry.py``): the cached
``Block`` when the directory lists exactly as the cache saw it, else a ``Pending`` with the
directory's kept children as entries, each file with its hash when the cache vouches for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from stat import S_IMODE, S_ISDIR, S_ISLNK, S_ISREG, S_ISSOCK

from safepoint.errors import OperationalError
from safepoint.model.entry import DIR, FILE, SYMLINK, Entry
from safepoint.model.rows import decode_rows
from safepoint.parallel import join
from safepoint.scan.listing import list_dir, list_dirs, parse_listing
from safepoint.scan.rules import Rules
from safepoint.scan.runtime import (
    BY_CONTENT,
    DATABASE,
    DB_JOURNAL,
    EXCLUDED,
    OWN,
    REPOSITORY,
    SOCKET,
    VENV,
    could_be_database,
    kind_by_name,
    sibling_of,
)
from safepoint.scan.treecache import Block, TreeCache

# Listing threads. Warm, a listing is CPU work and two threads on two cores are best (more
# only fight over the GIL); cold, it waits on the disk, and more requests in flight pay: on the
# bench site (4,152 directories), 2 threads list them in 35 ms warm / 250 ms cold, 16 threads
# in 48 / 118 ms. The first directories, listed in turn, tell which case this is.
PROBE_DIRS = 64
PROBE_ALONE = 16  # without a cache, the walk's own first listings tell
WARM_THREADS = 2
COLD_THREADS = 16
COLD_NS_PER_DIR = 40_000  # measured: ~15 us per directory warm, ~95 us cold
SPECIAL = "special file (fifo or device)"
VENV_MARK = b"pyvenv.cfg"  # a quick test before parsing a listing for the name
# One directory's files whose hash may be reused while their stat is the same:
# name -> (size, mtime_ns, ctime_ns, ino, sha256 hex)
Hashes = dict[str, tuple[int, int, int, int, str]]
# name -> (identity, why it was left out: "" when kept; see scan/runtime.py)
Verdicts = dict[str, tuple[tuple[int, int, int] | None, str]]


@dataclass
class Pending:
    """A directory read afresh: its kept children, files without a hash still to be read."""

    path: str
    listing: bytes
    entries: list[Entry]
    subdirs: tuple[str, ...]
    skipped: tuple[str, ...]
    excluded: list[tuple[str, str]]  # (name, why) of the children left out


@dataclass
class ScanResult:
    entries: list[Entry]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def walk(
    root: str,
    rules: Rules,
    cache: TreeCache | None = None,
    *,
    only: list[str] | None = None,
    written: dict[str, Hashes] | None = None,
    listings: dict[str, bytes] | None = None,
    ruled_in: dict[str, set[str]] | None = None,
) -> Iterator[Block | Pending]:
    """The kept directories under ``root`` (or just the directories ``only``), in tree order.
    ``written`` adds file hashes to reuse by stat, by directory (a rollback knows what it
    wrote), and ``ruled_in`` names the rules keep, by directory (a rollback knows the
    directories it made or restamped hold what the target did). ``listings`` are those read
    ahead (``Prefetch``); without them the walk reads ahead itself."""
    reuse = cache is not None and cache.rules == rules.fingerprint
    blocks = cache.blocks if cache is not None else {}
    written = written or {}
    ruled_in = ruled_in or {}
    stack = [""] if only is None else list(reversed(only))
    if listings is None:
        listings = prefetch(root, list(blocks) if only is None else only)
    alone, alone_ns = 0, 0  # directories listed one at a time, and how long they took
    while stack:
        rel_dir = stack.pop()
        listing = listings.pop(rel_dir, None)
        if listing is None:
            abs_dir = os.path.join(root, rel_dir) if rel_dir else root
            started = time.perf_counter_ns()
            try:
                listing = list_dir(abs_dir)
            except OSError as exc:
                raise OperationalError(f"cannot read directory {abs_dir}: {exc.strerror}") from None
            except OverflowError as exc:  # a timestamp past 2262 does not fit in 64 bits
                raise OperationalError(f"cannot read directory {abs_dir}: {exc}") from None
            alone, alone_ns = alone + 1, alone_ns + time.perf_counter_ns() - started
            if only is None and alone == PROBE_ALONE and alone_ns > alone * COLD_NS_PER_DIR:
                # Cold, and the cache did not foresee these directories (a first checkpoint):
                # the rest of the tree is listed level by level, each level's reads in flight
                # at once, rather than one directory after the other.
                have = ChainMap({rel_dir: listing}, listings)
                listings.update(discover(root, rules, [rel_dir, *stack], have))
        old = blocks.get(rel_dir)
        if reuse and old is not None and not old.racy and old.listing == listing:
            item: Block | Pending = old
        else:
            hashes, verdicts = ({}, {}) if old is None or cache is None else previous(old, cache)
            if not reuse:
                # Under other rules a file may have been kept by a rule since removed, and a
                # database never looked at: what could be one is read again.
                hashes = {n: h for n, h in hashes.items() if not could_be_database(h[0])}
                verdicts = {}
            hashes.update(written.get(rel_dir, {}))
            named = ruled_in.get(rel_dir, set()) if reuse else set()
            item = read_dir(root, rel_dir, listing, rules, hashes, verdicts, listings, named)
        yield item
        if only is None:
            prefix = f"{rel_dir}/" if rel_dir else ""
            stack.extend(prefix + name for name in reversed(item.subdirs))


def prefetch(root: str, dirs: list[str]) -> dict[str, bytes]:
    """The listings of ``dirs`` (those the cache expects), read by threads at once: a listing
    is system calls without the GIL. One that fails is left to the walk to report."""
    if len(dirs) < 2 * PROBE_DIRS:
        return {}
    started = time.perf_counter_ns()
    listings = _list_many(root, dirs[:PROBE_DIRS], 1)
    cold = (time.perf_counter_ns() - started) / PROBE_DIRS > COLD_NS_PER_DIR
    listings.update(_list_many(root, dirs[PROBE_DIRS:], COLD_THREADS if cold else WARM_THREADS))
    return listings


def discover(
    root: str, rules: Rules, tops: list[str], have: Mapping[str, bytes]
) -> dict[str, bytes]:
    """The listings of the directories under ``tops`` that the walk will descend into, read a
    level at a time by many threads (``have``: those read already, not returned). It skips
    what the walk would: excluded directories and virtual environments. A directory that
    cannot be listed is left out, for the walk to report."""
    out: dict[str, bytes] = {}
    level, judged = tops, set(tops)  # the walk has kept the tops already
    while level:
        out.update(_list_many(root, [d for d in level if d not in have], COLD_THREADS))
        below = []
        for rel_dir in level:
            listing = out.get(rel_dir) or have.get(rel_dir)
            if listing is None or (
                rel_dir not in judged
                and _holds_venv(root, rel_dir, listing)
                and rules.excludes_venv(rel_dir)
            ):
                continue
            prefix = f"{rel_dir}/" if rel_dir else ""
            below += [
                prefix + name
                for name in _dir_names(listing)
                if not rules.excluded_name(prefix + name, name, True)
            ]
        level = below
    return out


def _list_many(root: str, dirs: list[str], threads: int) -> dict[str, bytes]:
    paths = [os.path.join(root, d) if d else root for d in dirs]
    listings = list_dirs(paths, threads)
    return {d: listing for d, listing in zip(dirs, listings, strict=True) if listing is not None}


class Prefetch:
    """``prefetch`` in a background thread, so that the caller goes on meanwhile (loading the
    rest of the tree cache). A listing that could not be read is left to the walk."""

    def __init__(self, root: str, dirs: list[str]) -> None:
        self._listings: dict[str, bytes] = {}
        self._thread = threading.Thread(target=self._run, args=(root, dirs), daemon=True)
        self._thread.start()

    def _run(self, root: str, dirs: list[str]) -> None:
        with contextlib.suppress(Exception):  # whatever failed, the walk lists it again
            self._listings = prefetch(root, dirs)

    def result(self) -> dict[str, bytes]:
        join(self._thread)
        return self._listings


def read_dir(
    root: str,
    rel_dir: str,
    listing: bytes,
    rules: Rules,
    hashes: Hashes,
    verdicts: Verdicts,
    listed: Mapping[str, bytes] | None = None,
    named: set[str] | None = None,
) -> Pending:
    """The kept children of one directory from its listing; a file's hash comes from ``hashes``
    when its stat is exactly the one recorded there, and whether a child is kept from
    ``verdicts`` (the same rules' answer last time) when it is the same child. ``listed``: the
    listings of child directories read already (they tell which is a virtual environment);
    ``named``: children whose names the rules are known to keep."""
    listed = listed or {}
    named = named or set()
    prefix = f"{rel_dir}/" if rel_dir else ""
    entries: list[Entry] = []
    subdirs: list[str] = []
    skipped: list[str] = []
    excluded: list[tuple[str, str]] = []
    for name, mode, uid, gid, ino, size, mtime_ns, ctime_ns in sorted(parse_listing(listing)):
        rel = prefix + name
        is_dir = S_ISDIR(mode)
        was = verdicts.get(name)
        if was is not None and was[0] == _identity(mode, ino, mtime_ns, ctime_ns, was[1]):
            why = was[1]
        else:
            why = _left_out(root, rel, name, mode, rules, listed, name in named)
        if why:
            excluded.append((f"{name}/" if is_dir else name, why))
            continue
        if is_dir:
            entries.append(Entry(rel, DIR, S_IMODE(mode), uid, gid, 0, mtime_ns))
            subdirs.append(name)
        elif S_ISREG(mode):
            hit = hashes.get(name)
            blob = (
                hit[4] if hit is not None and hit[:4] == (size, mtime_ns, ctime_ns, ino) else None
            )
            entries.append(
                Entry(rel, FILE, S_IMODE(mode), uid, gid, size, mtime_ns, None, blob, ctime_ns, ino)
            )
        elif S_ISLNK(mode):
            try:
                target = os.readlink(os.path.join(root, rel))
            except FileNotFoundError:
                continue  # removed while we looked: it is not part of the tree
            entries.append(Entry(rel, SYMLINK, S_IMODE(mode), uid, gid, 0, mtime_ns, target))
        else:
            skipped.append(name)
    databases = {name for name, why in excluded if why == DATABASE}
    if databases:  # a database's WAL, SHM and journal go with it, whatever the rules say
        drop_siblings(entries, excluded, databases)
    return Pending(rel_dir, listing, entries, tuple(subdirs), tuple(skipped), excluded)


def _left_out(
    root: str,
    rel: str,
    name: str,
    mode: int,
    rules: Rules,
    listed: Mapping[str, bytes],
    named: bool,
) -> str:
    """Why the walk leaves out a child (a reason from scan/runtime.py), "" to keep it.
    ``named``: the rules are known to keep its name. Whether a file is a database is known
    only once it is read (``scan/tree.py``)."""
    is_dir = S_ISDIR(mode)
    if not named and rules.excluded_name(rel, name, is_dir):
        return OWN if rules.own(rel, name) else kind_by_name(name, is_dir)
    if is_dir:
        if _holds_venv(root, rel, listed.get(rel)) and rules.excludes_venv(rel):
            return VENV
    elif S_ISLNK(mode):
        if rules.excluded_name(rel, name, True):
            return EXCLUDED  # media/ excludes a media link to another volume too
        if rules.leads_to_repository(os.path.join(root, rel)):
            return REPOSITORY
    elif S_ISSOCK(mode):
        return SOCKET
    return ""


def drop_siblings(
    entries: list[Entry], excluded: list[tuple[str, str]], databases: set[str]
) -> None:
    """Move the WAL, SHM and journal files of ``databases`` from ``entries`` (one
    directory's) to ``excluded``."""
    for k in reversed(range(len(entries))):
        e = entries[k]
        name = e.path.rpartition("/")[2]
        if e.kind == FILE and sibling_of(name, databases):
            excluded.append((name, DB_JOURNAL))
            del entries[k]


def _holds_venv(root: str, rel: str, listing: bytes | None) -> bool:
    """Whether the directory ``rel`` holds ``pyvenv.cfg``: from its listing when it was read
    already (a cold ``lstat`` per directory costs as much as the listing), else asked."""
    if listing is None:
        return os.path.lexists(os.path.join(root, rel, "pyvenv.cfg"))
    return VENV_MARK in listing and "pyvenv.cfg" in _names(listing)


def _names(listing: bytes) -> set[str]:
    return {name for name, *_ in parse_listing(listing)}


def _dir_names(listing: bytes) -> list[str]:
    return [name for name, mode, *_ in parse_listing(listing) if S_ISDIR(mode)]


def _identity(
    mode: int, ino: int, mtime_ns: int, ctime_ns: int, why: str
) -> tuple[int, int, int] | None:
    """What a child must still match for the verdict on it to stand: for a file, its name (the
    rules ask nothing else), unless the verdict came from its content (a database, which may
    have been replaced); a directory may have become a virtual environment, and a symlink may
    lead elsewhere (to the repository): either changes its mtime and ctime."""
    if S_ISDIR(mode) or S_ISLNK(mode) or why in BY_CONTENT:
        return (ino, mtime_ns, ctime_ns)
    return None


def previous(old: Block, cache: TreeCache) -> tuple[Hashes, Verdicts]:
    """What a cached block still vouches for when its directory changed: the files whose hash
    may be reused by stat (all of them, or in a racy block those clearly older than the scan
    that hashed them), and the rules' verdict on each child."""
    racy_from = cache.racy_from if old.racy else None
    blobs = {e.path.rpartition("/")[2]: e.blob for e in block_entries([old])}
    left_out = {name.rstrip("/"): why for name, why in old.excluded}
    hashes: Hashes = {}
    verdicts: Verdicts = {}
    for name, mode, _, _, ino, size, mtime_ns, ctime_ns in parse_listing(old.listing):
        why = left_out.get(name, "")
        verdicts[name] = (_identity(mode, ino, mtime_ns, ctime_ns, why), why)
        blob = blobs.get(name)
        if blob and S_ISREG(mode) and (racy_from is None or mtime_ns < racy_from):
            hashes[name] = (size, mtime_ns, ctime_ns, ino, blob)
    return hashes, verdicts


def block_entries(blocks: Iterable[Block]) -> list[Entry]:
    """The entries of blocks, decoded in one go (one JSON document, not one per directory)."""
    frags = b",".join(frag for block in blocks for frag, _, _ in block.pieces)
    return decode_rows({"entries": json.loads(b"[" + frags + b"]")})


def scan_tree(root: str | os.PathLike[str], rules: Rules) -> ScanResult:
    """All entries under ``root`` that the rules keep, in tree order, without hashes (so no
    database is found by its content). Special files (fifos, devices) are skipped and reported
    in ``skipped``."""
    entries: list[Entry] = []
    skipped: list[tuple[str, str]] = []
    for item in walk(os.fspath(root), rules):
        assert isinstance(item, Pending)  # no cache: every directory is read
        entries.extend(item.entries)
        prefix = f"{item.path}/" if item.path else ""
        skipped.extend((prefix + name, SPECIAL) for name in item.skipped)
    return ScanResult(entries, skipped)
