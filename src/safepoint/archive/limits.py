"""What an imported archive may hold, beyond path safety (``paths``): limits that keep a hostile
archive from exhausting memory, disk or time, and member values that a restore could not
write back (so they are refused at import, never accepted and then failing at restore).

Limits (``ImportLimits``, each overridable by ``safepoint import`` options):

- ``max_member``: bytes in one member (default 4 GiB); refused from its header, before any
  of its data is read;
- ``max_ratio``: decompressed bytes per compressed byte (default 200; real sites compress
  3 to 20 times, a gzip bomb 1,000 times), checked once ``RATIO_GRACE`` bytes have come out;
- ``max_entries``: members (default 1,000,000), since each costs memory until the import ends.

Fixed rules, from what Linux and its file systems can hold: a name component of at most 255
bytes, a path or link target of at most 4,095, at most ``MAX_DEPTH`` components; a
modification time from 1901-12-13 to 2446-05-10 (ext4's range; NaN and infinities refused);
uid and gid from 0 to 2^32 - 2; tar's own extended headers (PAX, GNU long names) of at most
1 MiB and at most 8 in a row (tarfile reads them whole, recursively).
"""

from __future__ import annotations

import math
import re
import tarfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO

from safepoint.errors import UsageError

GIB = 1024**3
RATIO_GRACE = 64 * 1024 * 1024
MAX_NAME = 255
MAX_PATH = 4095
MAX_DEPTH = 256
MIN_MTIME, MAX_MTIME = -(2**31), 2**34  # seconds; ext4 keeps 1901-12-13 to 2446-05-10
MAX_ID = 2**32 - 2  # 2^32 - 1 is (uid_t)-1, "no change" to chown
HEADER_LIMIT = 1024 * 1024
HEADER_CHAIN = 8
_SIZE = re.compile(r"(\d{1,20})\s*(?:([KMGTkmgt])(?:i?[Bb])?|[Bb])?")
_EXTENDED = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)


@dataclass(frozen=True)
class ImportLimits:
    max_member: int = 4 * GIB
    max_ratio: float = 200.0  # 0: no limit
    max_entries: int = 1_000_000


def parse_size(text: str) -> int:
    """``"8G"``, ``"500MiB"``, ``"1024"`` (bytes; K, M, G and T are powers of 1024)."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise UsageError(f"{text!r} is not a size (e.g. 4G, 500M, 1048576)")
    return int(m.group(1)) * 1024 ** " KMGT".index((m.group(2) or " ").upper())


class LimitError(UsageError):
    """An archive beyond a limit or holding a value a restore could not write; the reader
    adds the archive's and the member's names."""


class Budget:
    """Counts compressed bytes read and decompressed bytes produced (by the decompressor, or
    by tarfile for the holes of a sparse member) and refuses a ratio beyond the limit."""

    def __init__(self, limits: ImportLimits) -> None:
        self.limits = limits
        self.compressed = 0
        self.expanded = 0  # out of the decompressor
        self.contents = 0  # member data tarfile handed out

    def read(self, n: int) -> None:
        self.compressed += n

    def produced(self, n: int) -> None:
        self.expanded += n
        self._check()

    def content(self, n: int) -> None:
        self.contents += n
        self._check()

    def _check(self) -> None:
        ratio = self.limits.max_ratio
        out = max(self.expanded, self.contents)
        if ratio and out > RATIO_GRACE and out > ratio * self.compressed:
            raise LimitError(
                f"the archive expands more than {ratio:g} times ({out} bytes from "
                f"{self.compressed}): a compression bomb? (--max-ratio raises the limit)"
            )


class GuardedStream:
    """The decompressed tar stream, counted against a ``Budget`` as tarfile reads it."""

    def __init__(self, stream: BinaryIO, budget: Budget) -> None:
        self._stream = stream
        self._budget = budget

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._budget.produced(len(data))
        return data


class CheckedTarInfo(tarfile.TarInfo):
    """tarfile's member header, refusing extended headers too large or too many in a row
    before tarfile reads them (whole, and recursively)."""

    def _proc_member(self, tarfile: Any) -> Any:
        if self.type not in _EXTENDED:
            return super()._proc_member(tarfile)  # type: ignore[misc]
        if self.size > HEADER_LIMIT:
            raise LimitError(
                f"an extended tar header of {self.size} bytes (at most {HEADER_LIMIT})"
            )
        depth = getattr(tarfile, "_safepoint_chain", 0)
        if depth >= HEADER_CHAIN:
            raise LimitError(f"more than {HEADER_CHAIN} extended tar headers in a row")
        tarfile._safepoint_chain = depth + 1
        try:
            return super()._proc_member(tarfile)  # type: ignore[misc]
        finally:
            tarfile._safepoint_chain = depth


def member_problem(ti: tarfile.TarInfo, path: str, limits: ImportLimits) -> str | None:
    """Why a restore could not write the member ``ti`` (canonical ``path``), or None."""
    encoded = path.encode("utf-8", "surrogateescape")
    if len(encoded) > MAX_PATH:
        return f"path of {len(encoded)} bytes (at most {MAX_PATH})"
    parts = encoded.split(b"/")
    if len(parts) > MAX_DEPTH:
        return f"path of {len(parts)} components (at most {MAX_DEPTH})"
    longest = max(len(p) for p in parts)
    if longest > MAX_NAME:
        return f"a name of {longest} bytes (at most {MAX_NAME})"
    if ti.issym() or ti.islnk():
        target = ti.linkname.encode("utf-8", "surrogateescape")
        if len(target) > MAX_PATH:
            return f"link target of {len(target)} bytes (at most {MAX_PATH})"
    for what, value in (("uid", ti.uid), ("gid", ti.gid)):
        if not isinstance(value, int) or not 0 <= value <= MAX_ID:
            return f"{what} {value} (from 0 to {MAX_ID})"
    if ti.size > limits.max_member:
        return f"{ti.size} bytes (at most {limits.max_member}; --max-size raises the limit)"
    try:
        seconds = mtime_ns(ti) // 1_000_000_000
    except ValueError as exc:
        return str(exc)
    if not MIN_MTIME <= seconds < MAX_MTIME:
        return f"modification time {seconds} out of range (1901-12-13 to 2446-05-10)"
    return None


def mtime_ns(ti: tarfile.TarInfo) -> int:
    """The exact time: tarfile turns a PAX ``mtime`` into a float, which loses nanoseconds.
    ValueError when it is not a finite number."""
    text = ti.pax_headers.get("mtime")
    if text is not None:
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            raise ValueError(f"modification time {text[:40]!r} is not a finite number")
        if abs(value) >= 2**40:  # never turned into an int of a million digits
            raise ValueError(f"modification time {text[:40]} out of range")
        return int(value.scaleb(9).to_integral_value(rounding="ROUND_FLOOR"))
    if isinstance(ti.mtime, float) and not math.isfinite(ti.mtime):
        raise ValueError(f"modification time {ti.mtime} is not a finite number")
    return int(ti.mtime) * 1_000_000_000
