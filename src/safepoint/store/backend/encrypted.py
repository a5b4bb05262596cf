"""A storage whose objects are sealed (``crypto``) on the way into another storage.

Names pass through unchanged: a repository on an encrypted storage names content-addressed
objects with ``content_id`` (a keyed hash) instead of a plain SHA-256, so that a listing does not
reveal which content is stored. Sizes in ``list`` and ``stat`` are plaintext sizes; tags are
those of the sealed objects. Every byte returned has been authenticated: a damaged or altered
object raises ``IntegrityError`` (exit 3), never returns wrong data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from safepoint.errors import IntegrityError
from safepoint.store.backend import crypto
from safepoint.store.backend.base import Data, ObjectInfo, Storage, range_end
from safepoint.store.backend.keys import MasterKey


class EncryptedStorage:
    def __init__(self, inner: Storage, key: MasterKey) -> None:
        self.inner = inner
        self.key = key
        self.url = inner.url
        self._cipher = crypto.aead(key.data_key)

    def content_id(self, data: bytes) -> str:
        return self.key.content_id(data)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for info in self.inner.list(prefix):
            yield ObjectInfo(info.name, crypto.plain_size(info.size), info.tag)

    def stat(self, name: str) -> ObjectInfo | None:
        info = self.inner.stat(name)
        return None if info is None else ObjectInfo(name, crypto.plain_size(info.size), info.tag)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        end = range_end(offset, length)
        if length == 0:
            return b""
        first = offset // crypto.SEGMENT
        last = None if end is None else (end - 1) // crypto.SEGMENT
        start = 0 if first == 0 else crypto.segment_offset(first)
        stop = None if last is None else crypto.segment_offset(last + 1)
        sealed = self.inner.get(name, start, None if stop is None else stop - start)
        if first == 0:
            crypto.check_magic(name, sealed[: len(crypto.MAGIC)])
            sealed = sealed[len(crypto.MAGIC) :]
        plain = bytearray()
        pieces = [
            sealed[i : i + crypto.SEALED_SEGMENT]
            for i in range(0, len(sealed), crypto.SEALED_SEGMENT)
        ]
        for number, piece in enumerate(pieces):
            index = first + number
            if number < len(pieces) - 1:
                plain += crypto.open_segment(self._cipher, name, index, False, piece)
            elif len(piece) < crypto.SEALED_SEGMENT or last is None or index < last:
                # Short, or the object ended before the range did: this must be the final one
                # (a cut at a segment boundary fails here).
                plain += crypto.open_segment(self._cipher, name, index, True, piece)
            else:
                plain += self._open_either(name, index, piece)
        skip = offset - first * crypto.SEGMENT
        return bytes(plain[skip:] if length is None else plain[skip : skip + length])

    def _open_either(self, name: str, index: int, piece: bytes) -> bytes:
        """A full segment at the end of the range: the object's last one or not."""
        try:
            return crypto.open_segment(self._cipher, name, index, False, piece)
        except IntegrityError:
            return crypto.open_segment(self._cipher, name, index, True, piece)

    def put(self, name: str, data: Data) -> None:
        if isinstance(data, bytes):
            self.inner.put(name, crypto.seal(self._cipher, name, data))
        else:
            self.inner.put(name, _SealingReader(self._cipher, name, data))  # type: ignore[arg-type]

    def put_if_absent(self, name: str, data: bytes) -> bool:
        return self.inner.put_if_absent(name, crypto.seal(self._cipher, name, data))

    def put_if_match(self, name: str, data: bytes, tag: str) -> str | None:
        return self.inner.put_if_match(name, crypto.seal(self._cipher, name, data), tag)

    def delete(self, name: str) -> None:
        self.inner.delete(name)


class _SealingReader:
    """A read-only stream of the sealed form of ``source``, one segment in memory at a time
    (plus the next, to know which segment is the last)."""

    def __init__(self, cipher: Any, name: str, source: Any) -> None:
        self._cipher, self._name, self._source = cipher, name, source
        self._out = bytearray(crypto.MAGIC)
        self._next: bytes | None = None
        self._index = 0
        self._done = False

    def _read_segment(self) -> bytes:
        buf = bytearray()
        while len(buf) < crypto.SEGMENT:
            piece = self._source.read(crypto.SEGMENT - len(buf))
            if not piece:
                break
            buf += piece
        return bytes(buf)

    def _fill(self) -> None:
        current = self._read_segment() if self._next is None else self._next
        self._next = self._read_segment()
        final = not self._next
        self._out += crypto.seal_segment(self._cipher, self._name, self._index, final, current)
        self._index += 1
        self._done = final

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._out) < size):
            self._fill()
        if size < 0 or size >= len(self._out):
            out, self._out = bytes(self._out), bytearray()
        else:
            out = bytes(self._out[:size])
            del self._out[:size]
        return out
