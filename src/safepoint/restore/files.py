"""Writing one entry to disk: the primitives that restore and rollback share."""

from __future__ import annotations

import os
import secrets

from safepoint.scan.entry import Entry
from safepoint.scan.rules import TEMP_PREFIX

IS_ROOT = os.geteuid() == 0


def temp_name(path: str) -> str:
    head, _, tail = path.rpartition("/")
    name = f"{TEMP_PREFIX}{secrets.token_hex(4)}-{tail}"[:255]
    return f"{head}/{name}" if head else name


def write_file(path: str, data: bytes, entry: Entry, *, durable: bool) -> None:
    """Write ``data`` as ``path`` with the entry's mode, owner and mtime.

    ``durable`` (in place, on a live site): write to a temporary name in the same directory,
    fsync, rename over ``path``, so a reader or a crash sees the old file or the new, never a
    half-written one. Otherwise (a fresh directory) write ``path`` directly.
    """
    target = temp_name(path) if durable else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if IS_ROOT:
            os.fchown(fd, entry.uid, entry.gid)
        os.fchmod(fd, entry.mode)
        os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(target)
        raise
    os.close(fd)
    if durable:
        os.replace(target, path)


def make_symlink(path: str, entry: Entry, *, durable: bool) -> None:
    assert entry.target is not None
    target = temp_name(path) if durable else path
    os.symlink(entry.target, target)
    set_link_meta(target, entry)
    if durable:
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
