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

On disk: ``<repository>/treecache``, a zstd frame (with checksum) of records, each a 4-byte
little-endian length and ``marshal`` data: the header ``{"version": 4, "taken_ns": N, "rules":
fingerprint, "dirs": [...]}``, records of up to 256 blocks (lists of tuples of their fields),
then a zero length; replaced atomically, read and written as a stream. ``dirs`` lists every
block's directory, so that a reader can start listing them before the blocks are loaded.
Every hash in it names a blob in the repository: ``status``, which hashes without storing,
leaves out the directories it hashed files in.

It is a cache only: missing, damaged or of another version, files are read and hashed again;
written under other rules, its blocks are rebuilt (the hashes are still reused). marshal is not
meant for hostile data; the repository directory is the user's own (mode 0700).
"""

from __future__ import annotations

import io
import marshal
import os
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import zstandard

from safepoint.model.rows import Piece

CACHE_VERSION = 4
RACY_MARGIN_NS = 100_000_000  # generous: coarse filesystem timestamp granularity


class Block(NamedTuple):
    path: str  # the directory, relative to the root ("" for the root)
    listing: bytes  # scan/listing.py's packed listing when the block was built
    pieces: tuple[Piece, ...]  # the kept children's manifest rows (model/rows.py)
    rows: int  # how many
    subdirs: tuple[str, ...]  # kept child directories, by name, in tree order
    files: int
    size: int  # bytes in those files
    racy: bool
    skipped: tuple[str, ...]  # special files (fifos, devices), by name
    # The children left out and why (scan/runtime.py): a verdict by content (a database)
    # stands while the child's stat in ``listing`` does.
    excluded: tuple[tuple[str, str], ...] = ()


@dataclass
class TreeCache:
    blocks: dict[str, Block] = field(default_factory=dict)
    taken_ns: int = 0  # when the scan that wrote it started
    rules: str = ""

    @property
    def racy_from(self) -> int:
        return self.taken_ns - RACY_MARGIN_NS


def load_cache(path: Path, *, on_dirs: Callable[[list[str]], object] | None = None) -> TreeCache:
    """The cache at ``path``; empty when missing, damaged or of another version. Read as a
    stream, record by record, so that only the blocks are held, not their encoded copy too.
    ``on_dirs`` is called with the cached directories as soon as the header names them."""
    blocks: dict[str, Block] = {}
    try:
        with path.open("rb") as f:
            reader = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(f), BUFFER)
            header = _read(reader)
            if not isinstance(header, dict) or header.get("version") != CACHE_VERSION:
                return TreeCache()
            dirs = header.get("dirs")
            if not isinstance(dirs, list):  # not a header this version writes
                return TreeCache()
            if on_dirs is not None:
                on_dirs(dirs)
            while (batch := _read(reader)) is not None:
                for block in batch:
                    blocks[block[0]] = Block(*block)
            if reader.read(1):  # past the end mark: not a file this code wrote
                return TreeCache()
        return TreeCache(blocks, header["taken_ns"], header["rules"])
    except (OSError, EOFError, ValueError, KeyError, TypeError, struct.error, zstandard.ZstdError):
        return TreeCache()


def save_cache(path: Path, blocks: Iterable[Block], *, taken_ns: int, rules: str) -> bool:
    """Replace the cache, written as a stream. Not fsynced: after a crash it is either whole
    (the zstd checksum says so) or ignored, and a lost cache only costs reading files again.
    When it cannot be written (a full disk), the old one stays: older, so it matches less of
    the tree, but everything it says is still true. Returns whether it was written."""
    blocks = list(blocks)
    dirs = [block.path for block in blocks]
    header = {"version": CACHE_VERSION, "taken_ns": taken_ns, "rules": rules, "dirs": dirs}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with (
            os.fdopen(fd, "wb") as f,
            zstandard.ZstdCompressor(level=1, write_checksum=True).stream_writer(f) as out,
        ):
            _write(out, header)
            batch: list[tuple[Any, ...]] = []
            for block in blocks:
                batch.append(tuple(block))
                if len(batch) == BATCH:
                    _write(out, batch)
                    batch = []
            if batch:
                _write(out, batch)
            out.write(_LENGTH.pack(0))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # the checkpoint it would speed up is made already
        return False
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def drop_blobs(path: Path, blobs: set[bytes]) -> None:
    """Take out of the cache at ``path`` the blocks of every directory whose files name one of
    ``blobs`` (gc removed them from the repository), so the next checkpoint reads those
    directories again and stores what they hold; every other block stays, and with it the
    speed of the next checkpoint. When the cache cannot be rewritten it is removed: it would
    vouch for blobs that are gone."""
    if not blobs or not path.exists():
        return
    cache = load_cache(path)
    gone = {blob.hex().encode() for blob in blobs}
    # Every quoted 64-hex-digit string of a block's rows: its files' hashes (a symlink target
    # or a name of that form may match too, which only drops a block that could have stayed).
    kept = [
        block
        for block in cache.blocks.values()
        if gone.isdisjoint(_HASH.findall(b",".join(piece[0] for piece in block.pieces)))
    ]
    if cache.blocks and len(kept) == len(cache.blocks):
        return
    if not cache.blocks or not save_cache(path, kept, taken_ns=cache.taken_ns, rules=cache.rules):
        path.unlink(missing_ok=True)


_HASH = re.compile(rb'"([0-9a-f]{64})"')
_LENGTH = struct.Struct("<I")
BUFFER = 1 << 16
BATCH = 256  # blocks per record: few calls, and only one batch encoded at a time


def _write(out: BinaryIO, value: Any) -> None:
    data = marshal.dumps(value)
    out.write(_LENGTH.pack(len(data)))
    out.write(data)


def _read(reader: BinaryIO) -> Any:
    """The next record; None at the end mark. EOFError when the stream stops short."""
    head = reader.read(_LENGTH.size)
    if len(head) != _LENGTH.size:
        raise EOFError("tree cache cut short")
    (size,) = _LENGTH.unpack(head)
    if not size:
        return None
    data = reader.read(size)
    if len(data) != size:
        raise EOFError("tree cache cut short")
    return marshal.loads(data)
