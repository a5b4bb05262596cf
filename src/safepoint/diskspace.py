"""Sizes for people, and I/O errors described so that a person knows what to free or fix.

``No space left on device`` from ``os.write`` carries no file name; the writers that can meet
it (packs, staged files) name the path, and ``describe`` adds how much space that filesystem
has and, when the caller knows it, how much the operation needs.
"""

from __future__ import annotations

import errno
import os


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def free_space(path: str | os.PathLike[str]) -> int | None:
    """Bytes an unprivileged writer may still use on the filesystem of ``path`` (or of its
    nearest existing parent), None if unknown."""
    path = os.fspath(path)
    while path:
        try:
            st = os.statvfs(path)
        except FileNotFoundError:
            parent = os.path.dirname(path)
            if parent == path:
                return None
            path = parent
            continue
        except OSError:
            return None
        return st.f_bavail * st.f_frsize
    return None


def describe(exc: OSError, *, need: int | None = None) -> str:
    """``exc`` as one phrase: its reason, the path, and for a full disk the free space there
    and (``need``) what the operation needs."""
    reason = exc.strerror or str(exc)
    path = os.fsdecode(exc.filename) if exc.filename else ""
    text = f"{reason}: {path}" if path else reason
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) and path:
        free = free_space(path)
        if need is not None:
            have = f", {human_size(free)} free there" if free is not None else ""
            text += f" (needs about {human_size(need)}{have})"
        elif free is not None:
            text += f" (needs more than the {human_size(free)} free there)"
    return text


def with_path(exc: OSError, path: str | os.PathLike[str]) -> OSError:
    """``exc`` with ``path`` as its file name when it had none (os.write and friends)."""
    if exc.filename:
        return exc
    return type(exc)(exc.errno, exc.strerror, os.fspath(path))
