"""Writing one entry to disk: the primitives that restore and rollback share."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable

from safepoint.model.entry import IS_ROOT, Entry
from safepoint.scan.rules import TEMP_PREFIX

OWNER = (os.geteuid(), os.getegid())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()  # read once, before any thread runs: os.umask has no read-only form


def temp_name(path: str, nonce: str | None = None) -> str:
    """A name beside ``path`` that scans never see (``TEMP_PREFIX``) and recover can find."""
    head, _, _ = path.rpartition("/")
    name = f"{TEMP_PREFIX}{nonce or ''}-{secrets.token_hex(6)}"
    return f"{head}/{name}" if head else name


def write_file(
    path: str, data: bytes | Iterable[bytes], entry: Entry, *, fsync: bool = False
) -> None:
    """Create ``path`` (which must not exist) holding ``data``, with the entry's mode, owner and
    mtime; ``fsync`` makes it durable before returning. ``data`` may come in pieces (a large
    blob, hash-checked after its last piece). On failure nothing is left behind.
    In-place rollbacks write to a temporary name this way, then rename over the old file."""
    # Created with its final permission bits where the umask leaves them alone (one chmod
    # saved per file), and chowned only when the owner differs from the creator's.
    direct = entry.mode & ~UMASK == entry.mode and entry.mode <= 0o777
    fd = os.open(
        path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, entry.mode if direct else 0o600
    )
    try:
        for piece in (data,) if isinstance(data, bytes) else data:
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
        if IS_ROOT and (entry.uid, entry.gid) != OWNER:
            os.fchown(fd, entry.uid, entry.gid)
        if not direct or (IS_ROOT and (entry.uid, entry.gid) != OWNER):
            os.fchmod(fd, entry.mode)  # after chown, which clears setuid/setgid bits
        os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def make_symlink(path: str, entry: Entry, *, replace: bool, nonce: str | None = None) -> None:
    """Create the symlink ``path``; with ``replace``, atomically over whatever is there."""
    assert entry.target is not None
    target = temp_name(path, nonce) if replace else path
    os.symlink(entry.target, target)
    set_link_meta(target, entry)
    if replace:
        os.replace(target, path)


def set_link_meta(path: str, entry: Entry) -> None:
    if IS_ROOT:
        os.lchown(path, entry.uid, entry.gid)
    os.utime(path, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)


def set_meta(path: str, entry: Entry) -> None:
    """Mode, owner and mtime of an existing file or directory."""
    if IS_ROOT:
        os.chown(path, entry.uid, entry.gid, follow_symlinks=False)
    os.chmod(path, entry.mode)  # files and directories only: never a symlink here
    os.utime(path, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)
