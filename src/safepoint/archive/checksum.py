"""``NAME.sha256`` files in ``sha256sum`` format (``<hex>  <name>``), so that
``sha256sum -c NAME.sha256`` checks an archive where it lies, with no safepoint needed."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from safepoint.archive.layout import checksum_name
from safepoint.errors import IntegrityError, OperationalError

CHUNK = 1 << 20
_LINE = re.compile(rb"^\\?([0-9a-fA-F]{64}) [ *](.+)$")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise OperationalError(f"cannot read {path}: {exc.strerror}") from None
    return digest.hexdigest()


def checksum_line(sha256: str, name: str) -> bytes:
    return f"{sha256}  {name}\n".encode("utf-8", "surrogateescape")


def check_beside(archive: Path) -> str | None:
    """Check ``archive`` against ``archive.sha256`` if that file exists: its SHA-256 (hex)
    when it matches, None when there is no such file; IntegrityError when it does not match
    or cannot be understood."""
    sums = archive.with_name(checksum_name(archive.name))
    try:
        text = sums.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OperationalError(f"cannot read {sums}: {exc.strerror}") from None
    expected = expected_sum(text, archive.name.encode("utf-8", "surrogateescape"))
    if expected is None:
        raise IntegrityError(f"{sums} does not hold a SHA-256 for {archive.name}")
    actual = sha256_file(archive)
    if actual != expected:
        raise IntegrityError(
            f"{archive}: checksum mismatch (expected {expected} from {sums.name}, got "
            f"{actual}); the archive is damaged, nothing was imported"
        )
    return actual


def expected_sum(text: bytes, name: bytes) -> str | None:
    """The hash that a sha256sum file gives for ``name``, or its only hash if it names one file
    (the archive may have been renamed)."""
    found = [m for line in text.splitlines() if (m := _LINE.match(line.strip(b"\r")))]
    for m in found:
        if m.group(2) == name or m.group(2).rpartition(b"/")[2] == name:
            return m.group(1).decode().lower()
    if len(found) == 1:
        return found[0].group(1).decode().lower()
    return None
