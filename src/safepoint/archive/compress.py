"""Compressed streams for archives: writing gzip or zstd, reading whatever a tar archive comes
in (gzip, zstd, xz, bzip2 or none, told apart by their magic bytes).

Readers must notice damage, not only decode: gzip, xz and bzip2 check their own CRCs and
raise at a truncated end; zstd's stream reader stops quietly at a truncated frame, so
``ZstdReader`` checks that every frame was complete (and the frame checksum, when present,
is checked by zstd itself).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

import zstandard

from safepoint.archive.layout import GZIP, ZSTD
from safepoint.errors import IntegrityError, UsageError

GZIP_LEVEL = 6
ZSTD_LEVEL = 3
# Input fed to zstd per call: bounds what one call can expand to (zstd's worst case is about
# 1:32000), so a hostile archive cannot make one read allocate gigabytes.
ZSTD_INPUT_CHUNK = 4096
READ_CHUNK = 1 << 20

# Everything a damaged or truncated compressed stream or tar can raise while read.
DAMAGE_ERRORS = (
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    zstandard.ZstdError,
    tarfile.TarError,
)


class HashingWriter:
    """Writes through to ``f``, keeping the SHA-256 and size of everything written."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self._f.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._f.flush()


@contextmanager
def compressed_writer(fmt: str, raw: HashingWriter, *, mtime: int) -> Iterator[BinaryIO]:
    """A stream compressing into ``raw``; finished (trailer written) when the block ends.
    ``mtime`` goes into the gzip header, so the same checkpoint exports to the same bytes."""
    if fmt == GZIP:
        with gzip.GzipFile(
            filename="",
            mode="wb",
            fileobj=raw,  # type: ignore[arg-type]
            compresslevel=GZIP_LEVEL,
            mtime=mtime,
        ) as gz:
            yield gz  # type: ignore[misc]
    elif fmt == ZSTD:
        cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
        with cctx.stream_writer(raw, closefd=False) as zw:  # type: ignore[arg-type]
            yield zw  # type: ignore[misc]
    else:
        raise UsageError(f"unknown archive format {fmt!r} (use tar.gz or tar.zst)")


def open_decompressed(head: bytes, f: BinaryIO, name: str) -> BinaryIO:
    """The tar stream inside ``f``, whose first bytes are ``head``, whatever it is compressed
    with."""
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return io.BufferedReader(ZstdReader(f, name))  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(f)  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(f)  # type: ignore[return-value]
    return f  # an uncompressed tar, or not a tar at all: tarfile tells


class CountingReader(io.RawIOBase):
    """Reads ``f``, reporting the bytes read to a callback (progress) as it goes."""

    def __init__(self, f: BinaryIO, advance: Callable[[int], None]) -> None:
        self._f = f
        self._advance = advance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._f.readinto(buffer)  # type: ignore[attr-defined]
        self._advance(n or 0)
        return n or 0


class ZstdReader(io.RawIOBase):
    """Decompresses zstd frames one after another and raises IntegrityError if the input ends
    inside a frame."""

    def __init__(self, f: BinaryIO, name: str) -> None:
        self._f = f
        self._name = name
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._in_frame = False
        self._pending = b""  # input left over after a frame ended
        self._out = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._pos >= len(self._out):
            if not self._fill():
                return 0
        n = min(len(buffer), len(self._out) - self._pos)
        buffer[:n] = memoryview(self._out)[self._pos : self._pos + n]
        self._pos += n
        return n

    def _fill(self) -> bool:
        """Decompress one more chunk of input; False at the end of the input."""
        data = self._pending or self._f.read(ZSTD_INPUT_CHUNK)
        self._pending = b""
        if not data:
            if self._in_frame:
                raise IntegrityError(f"{self._name}: the zstd data is truncated")
            return False
        self._in_frame = True
        self._out, self._pos = self._dobj.decompress(data), 0
        if self._dobj.eof:
            self._pending = self._dobj.unused_data
            self._dobj = self._dctx.decompressobj()
            self._in_frame = False
        return True
