"""The storage contract: named objects, written whole, read whole or by byte range.

Names are ``/``-separated paths of printable components (``packs/ab/NAME``, ``lock``); an
implementation maps them onto its own namespace (a directory, a bucket prefix). A reader never
sees part of a put: an object is absent, or holds one whole put's bytes. ``tag`` identifies one
version of an object (an S3 ETag; for a local file its inode, size and mtime), so that
``put_if_match`` can replace exactly the version a caller read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from safepoint.errors import IntegrityError, OperationalError, UsageError

Data = bytes | BinaryIO

_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=-]*")


class StorageError(OperationalError):
    """The storage service could not be reached or refused a request (credentials, network)."""


class MissingObjectError(IntegrityError):
    """An object that should exist is not in the storage."""


class UnsupportedStorageError(UsageError):
    """The storage service lacks a property safepoint relies on (conditional writes)."""


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    size: int
    tag: str


class Storage(Protocol):
    """What the repository needs of a place to keep objects. Every method is safe to call from
    several threads; none holds a whole object in memory unless it was handed one."""

    url: str

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose name starts with ``prefix`` (a plain string prefix), in name order."""
        ...

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """``length`` bytes (all to the end when None) from ``offset``; fewer at the end of the
        object, ``b""`` past it. Raises ``MissingObjectError`` when there is no such object."""
        ...

    def put(self, name: str, data: Data) -> None:
        """Store ``data`` (bytes, or a binary stream read to its end in bounded pieces) as
        ``name``, replacing any object of that name at once."""
        ...

    def put_if_absent(self, name: str, data: bytes) -> bool:
        """Store ``data`` only if no object ``name`` exists; False (nothing written) if one
        does. Two concurrent callers: exactly one gets True."""
        ...

    def put_if_match(self, name: str, data: bytes, tag: str) -> str | None:
        """Replace ``name`` only if its current version is ``tag``; the new tag, or None when
        the object changed or is gone (nothing written)."""
        ...

    def delete(self, name: str) -> None:
        """Remove ``name``; removing an absent object is not an error."""
        ...

    def stat(self, name: str) -> ObjectInfo | None:
        """Size and tag of ``name``, or None when absent."""
        ...


def check_name(name: str) -> str:
    """Refuse a name that could escape the storage's namespace or clash with its temporary
    files (components starting with a dot)."""
    parts = name.split("/")
    if not all(_COMPONENT.fullmatch(part) for part in parts):
        raise ValueError(f"not a valid object name: {name!r}")
    return name


def range_end(offset: int, length: int | None) -> int | None:
    if offset < 0 or (length is not None and length < 0):
        raise ValueError(f"bad byte range: offset {offset}, length {length}")
    return None if length is None else offset + length
