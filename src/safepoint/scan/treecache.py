"""The tree cache: what each directory of the site held when it was last read, so a checkpoint
of an unchanged directory costs one listing and one comparison, not a stat per file.

For every directory the last scan kept, a ``Block``: the directory's ``listing`` (every child
with its lstat, packed by ``scan/listing.py``), its kept children as encoded manifest rows
(``pieces``, with the content hash of each file), and what a checkpoint needs to know without
decoding them. When a directory lists exactly as before, its block is used as it is: no child
is stat'ed in Python, read or hashed, and its rows go into the new manifest unchanged.

A block is "racy" when one of its files has an mtime not clearly older than the scan that built
it (the file may change again within the same timestamp tick); a racy block is always rebuilt,
as git does with racy index entries. Rebuilding a directory still reuses the hash of every file
whose (size, mtime_ns, ctime_ns, inode) is unchanged.

On disk: ``<repository>/treecache``, a zstd frame (with checksum) of ``marshal`` data:
``(header, [block tuple, ...])``, header ``{"version": 3, "taken_ns": N, "rules": fingerprint}``;
replaced atomically. Every hash in it names a blob in the repository: ``status``, which hashes
without storing, leaves out the directories it hashed files in. It is a cache only: missing,
damaged or of another version, files are read and hashed again; written with other rules, its
blocks are rebuilt (the hashes are still reused). marshal is not meant for
hostile data; the repository directory is the user's own (mode 0700).
"""

from __future__ import annotations

import marshal
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import zstandard

from safepoint.store.manifest import Piece

CACHE_VERSION = 3
RACY_MARGIN_NS = 100_000_000  # generous: coarse filesystem timestamp granularity


class Block(NamedTuple):
    path: str  # the directory, relative to the root ("" for the root)
    listing: bytes  # scan/listing.py's packed listing when the block was built
    pieces: tuple[Piece, ...]  # the kept children's manifest rows (store/manifest.py)
    rows: int  # how many
    subdirs: tuple[str, ...]  # kept child directories, by name, in tree order
    files: int
    size: int  # bytes in those files
    racy: bool
    skipped: tuple[str, ...]  # special files (fifos, sockets, devices), by name


@dataclass
class TreeCache:
    blocks: dict[str, Block] = field(default_factory=dict)
    taken_ns: int = 0  # when the scan that wrote it started
    rules: str = ""

    @property
    def racy_from(self) -> int:
        return self.taken_ns - RACY_MARGIN_NS


def load_cache(path: Path) -> TreeCache:
    """The cache at ``path``; empty when missing, damaged or of another version."""
    try:
        with path.open("rb") as f:
            data = zstandard.ZstdDecompressor().decompress(f.read())
        header, blocks = marshal.loads(data)
        if header["version"] != CACHE_VERSION:
            return TreeCache()
        return TreeCache({b[0]: Block(*b) for b in blocks}, header["taken_ns"], header["rules"])
    except (OSError, EOFError, ValueError, KeyError, TypeError, zstandard.ZstdError):
        return TreeCache()


def save_cache(path: Path, blocks: Iterable[Block], *, taken_ns: int, rules: str) -> None:
    """Replace the cache. Not fsynced: after a crash it is either whole (the zstd checksum
    says so) or ignored, and a lost cache only costs reading the files again."""
    header = {"version": CACHE_VERSION, "taken_ns": taken_ns, "rules": rules}
    data = marshal.dumps((header, [tuple(b) for b in blocks]))
    packed = zstandard.ZstdCompressor(level=1, write_checksum=True).compress(data)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(packed)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
