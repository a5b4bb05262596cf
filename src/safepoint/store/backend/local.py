"""Objects as files under a directory: ``NAME`` is the file ``ROOT/NAME``.

A put writes ``.BASENAME.tmp-PID`` beside the object, fsyncs it, renames it over the object and
fsyncs the directory (``store.atomic``), so a crash leaves the old object or the new one. A
put-if-absent links the fsynced temporary file to the object's name: ``link`` fails when the
name exists, so of two writers exactly one wins. A put-if-match compares and replaces under an
``flock`` on ``ROOT/.cas`` (the only writers that take it are conditional ones, which is all
the lock object needs).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from safepoint.store.atomic import atomic_file, fsync_dir
from safepoint.store.backend.base import (
    Data,
    MissingObjectError,
    ObjectInfo,
    check_name,
    range_end,
)

COPY_PIECE = 1 << 20


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)
        self._cas = threading.Lock()

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base, _, _ = prefix.rpartition("/")
        top = self.root / base if base else self.root
        found = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = os.path.relpath(dirpath, self.root)
            for filename in filenames:
                if filename.startswith("."):
                    continue  # temporary files of puts in progress, the .cas lock
                name = filename if rel == "." else f"{rel}/{filename}"
                if name.startswith(prefix):
                    found.append(name)
        for name in sorted(found):
            info = self.stat(name)
            if info is not None:
                yield info

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        range_end(offset, length)
        try:
            with open(self._path(name), "rb") as f:
                f.seek(offset)
                return f.read() if length is None else f.read(length)
        except FileNotFoundError:
            raise MissingObjectError(f"object {name} is missing from {self.url}") from None

    def put(self, name: str, data: Data) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                shutil.copyfileobj(data, f, COPY_PIECE)

    def put_if_absent(self, name: str, data: bytes) -> bool:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(path.parent)
        return True

    def put_if_match(self, name: str, data: bytes, tag: str) -> str | None:
        self.root.mkdir(parents=True, exist_ok=True)
        # The thread lock for threads of this process (flock is per open file, not per
        # thread), the flock for other processes.
        with self._cas, open(self.root / ".cas", "a+b") as lockfile:
            fcntl.flock(lockfile.fileno(), fcntl.LOCK_EX)
            current = self.stat(name)
            if current is None or current.tag != tag:
                return None
            self.put(name, data)
            new = self.stat(name)
            return None if new is None else new.tag

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(path.parent)

    def stat(self, name: str) -> ObjectInfo | None:
        try:
            st = self._path(name).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(name, st.st_size, f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}")
