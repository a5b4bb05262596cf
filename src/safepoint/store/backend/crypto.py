"""Sealed objects: AES-256-GCM in segments, so that a byte range can be read and checked
without reading the whole object, and a large object can be written in bounded memory.

```
header     b"SPX1"                                                    4 bytes
segment    nonce (12 random bytes) | ciphertext | GCM tag (16)       up to SEGMENT + 28 bytes
segment ...
```
Every segment but the last holds exactly ``SEGMENT`` plaintext bytes; the last holds 0 to
``SEGMENT`` (an empty object is one empty segment). Each segment is sealed with a fresh random
96-bit nonce and associated data ``b"safepoint-object\\0" + NAME + b"\\0" + index (u64) +
final (u8)``: a segment moved to another object or position, an object renamed, or one cut
short after a segment boundary fails to open (``IntegrityError``, exit 3).
"""

from __future__ import annotations

import os
import struct
from typing import Any

from safepoint.errors import IntegrityError

MAGIC = b"SPX1"
SEGMENT = 64 << 10
NONCE = 12
TAG = 16
OVERHEAD = NONCE + TAG
SEALED_SEGMENT = SEGMENT + OVERHEAD


def aead(key: bytes) -> Any:
    """An AES-256-GCM cipher for ``key`` (``cryptography`` is part of the s3 extra)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def associated(name: str, index: int, final: bool) -> bytes:
    return b"safepoint-object\0" + name.encode() + b"\0" + struct.pack(">QB", index, final)


def seal_segment(cipher: Any, name: str, index: int, final: bool, plain: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + cipher.encrypt(nonce, plain, associated(name, index, final))


def open_segment(cipher: Any, name: str, index: int, final: bool, sealed: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag

    try:
        return bytes(cipher.decrypt(sealed[:NONCE], sealed[NONCE:], associated(name, index, final)))
    except InvalidTag:
        raise IntegrityError(
            f"object {name} is damaged or was tampered with (segment {index} fails authentication)"
        ) from None


def segment_offset(index: int) -> int:
    return len(MAGIC) + index * SEALED_SEGMENT


def plain_size(sealed_size: int) -> int:
    """The plaintext size of a sealed object of ``sealed_size`` bytes."""
    body = sealed_size - len(MAGIC)
    if body < OVERHEAD:
        return 0
    segments = -(-body // SEALED_SEGMENT)
    return body - segments * OVERHEAD


def seal(cipher: Any, name: str, data: bytes) -> bytes:
    """A whole sealed object (for small objects: records, marks, the lock)."""
    pieces = [MAGIC]
    count = max(1, -(-len(data) // SEGMENT))
    for index in range(count):
        plain = data[index * SEGMENT : (index + 1) * SEGMENT]
        pieces.append(seal_segment(cipher, name, index, index == count - 1, plain))
    return b"".join(pieces)


def check_magic(name: str, head: bytes) -> None:
    if head != MAGIC:
        raise IntegrityError(f"object {name} is not a sealed object (damaged or not encrypted)")
