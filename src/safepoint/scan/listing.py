"""One directory's entries with their lstat, as one packed bytes object.

``list_dir(path)`` lists every entry of ``path`` except ``.`` and ``..``, each ``lstat``'ed
(symlinks are never followed), sorted by the name's bytes (memcmp order, the shorter name first
on a common prefix). An entry that vanishes between reading the directory and its ``lstat`` is
left out. ``parse_listing`` decodes the result. ``list_dirs(paths, threads)`` lists many
directories at once, ``None`` for one that cannot be listed (``list_dir`` it to learn why).

The packed format is stored in a cache on disk, so it must not change without a version bump
there. Each entry is a 46-byte little-endian header, ``struct`` format ``"<HIIIQqqq"``::

    name_len  u16  length of the name in bytes
    st_mode   u32  full mode, file type bits included
    st_uid    u32
    st_gid    u32
    st_ino    u64
    st_size   i64
    mtime_ns  i64  st_mtime_ns (tv_sec * 1_000_000_000 + tv_nsec)
    ctime_ns  i64  st_ctime_ns

followed by the name's bytes (``os.fsencode`` of the name, no terminator). Entries follow one
another with nothing between them; an empty directory is ``b""``.

The work is done by the C extension ``safepoint.scan._listing`` when it was built (``HAVE_C``),
otherwise by ``_list_dir_pure``, which gives the same bytes and raises the same exceptions. The C
``list_dirs`` runs threads of its own and takes the GIL only once all are done, so that a Python
thread beside it (loading the tree cache) is not slowed down; the pure one uses a thread pool.
``SAFEPOINT_PURE_LISTING=1`` in the environment when this module is first imported forces the
pure-Python version.
"""

from __future__ import annotations

import errno
import importlib
import os
import struct
from collections.abc import Callable
from operator import itemgetter
from typing import Any

__all__ = ["HAVE_C", "list_dir", "list_dirs", "parse_listing"]

_HEADER = struct.Struct("<HIIIQqqq")  # 46 bytes

_NAME_MAX = 0xFFFF
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _list_dir_pure(path: str) -> bytes:
    """``list_dir`` in pure Python: ``os.scandir`` and ``DirEntry.stat(follow_symlinks=False)``."""
    rows: list[tuple[bytes, os.stat_result]] = []
    with os.scandir(path) as it:
        for entry in it:
            name = os.fsencode(entry.name)
            if len(name) > _NAME_MAX:
                raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), entry.path)
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since it was read from the directory
            if not (
                _I64_MIN <= st.st_mtime_ns <= _I64_MAX and _I64_MIN <= st.st_ctime_ns <= _I64_MAX
            ):
                raise OverflowError(
                    f"timestamp of {entry.path!r} does not fit in the listing format"
                )
            rows.append((name, st))
    rows.sort(key=itemgetter(0))
    pack = _HEADER.pack
    parts: list[bytes] = []
    for name, st in rows:
        parts.append(
            pack(
                len(name),
                st.st_mode,
                st.st_uid,
                st.st_gid,
                st.st_ino,
                st.st_size,
                st.st_mtime_ns,
                st.st_ctime_ns,
            )
        )
        parts.append(name)
    return b"".join(parts)


def _list_dirs_pure(paths: list[str], threads: int) -> list[bytes | None]:
    def one(path: str) -> bytes | None:
        try:
            return _list_dir_pure(path)
        except (OSError, OverflowError):
            return None

    if threads <= 1 or len(paths) < 2:
        return [one(path) for path in paths]
    from safepoint.parallel import map_each

    return list(map_each(one, paths, lambda _: 0, workers=threads))  # groups of BATCH_ITEMS


def _load_c() -> Any:
    if os.environ.get("SAFEPOINT_PURE_LISTING") == "1":
        return None
    try:
        return importlib.import_module("safepoint.scan._listing")
    except ImportError:
        return None


_c = _load_c()
_impl: Callable[[str], bytes] = _c.list_dir if _c else _list_dir_pure
_impl_many: Callable[[list[str], int], list[bytes | None]] = _c.list_dirs if _c else _list_dirs_pure
HAVE_C: bool = _c is not None


def list_dir(path: str) -> bytes:
    """The packed listing of the directory ``path`` (format in the module docstring).

    Raises ``OSError`` with ``errno`` and ``filename`` set (``FileNotFoundError``,
    ``NotADirectoryError``, ``PermissionError``, ...) if the directory cannot be opened or read,
    or if an entry's ``lstat`` fails other than with ``ENOENT`` (then ``filename`` is the entry's
    path); ``OverflowError`` if a timestamp in nanoseconds does not fit in 64 bits."""
    return _impl(path)


def list_dirs(paths: list[str], threads: int) -> list[bytes | None]:
    """``list_dir`` of each path, by up to ``threads`` threads at once; ``None`` where it would
    raise ``OSError`` or ``OverflowError``."""
    return _impl_many(paths, threads)


def parse_listing(data: bytes) -> list[tuple[str, int, int, int, int, int, int, int]]:
    """Decode a listing made by ``list_dir``: ``(name, mode, uid, gid, ino, size, mtime_ns,
    ctime_ns)`` per entry, in the listing's order, the name decoded by ``os.fsdecode`` (so a
    name that is not UTF-8 round-trips through ``os.fsencode``). Raises ``ValueError`` if
    ``data`` is truncated."""
    out: list[tuple[str, int, int, int, int, int, int, int]] = []
    unpack_from = _HEADER.unpack_from
    size = _HEADER.size
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < size:
            raise ValueError(f"truncated listing: header at offset {pos}")
        name_len, mode, uid, gid, ino, st_size, mtime_ns, ctime_ns = unpack_from(data, pos)
        pos += size
        if end - pos < name_len:
            raise ValueError(f"truncated listing: name at offset {pos}")
        name = os.fsdecode(data[pos : pos + name_len])
        pos += name_len
        out.append((name, mode, uid, gid, ino, st_size, mtime_ns, ctime_ns))
    return out
