"""The cross-host write lock: the object ``lock``, JSON

    {"host": "web1", "pid": 1234, "command": "safepoint create", "since": ISO time,
     "refreshed": UNIX time, "token": 32 random hex digits}

created with put-if-absent (S3: ``If-None-Match: *``), so of two writers exactly one gets it.
While held, a thread rewrites it every ``refresh_every`` seconds (default a quarter of
``stale_after``) with put-if-match on the version it wrote last (S3: ``If-Match: ETAG``); a
refresh that finds another version means the lock was taken over, and ``check`` then raises
before the holder writes anything more. A lock is stale when its ``refreshed`` time is more than
``stale_after`` seconds (default ``STALE_AFTER``, 60) in the past by the reader's clock (hosts'
clocks must agree to within a few seconds: NTP), or at once when its host is this host and its
pid no longer runs. A stale lock is taken over with put-if-match on the version read, so two
takers cannot both win. A writer that finds a fresh lock polls until ``wait`` seconds (default
``DEFAULT_WAIT``, 30) have passed, then gives up naming the holder.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shlex
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from types import TracebackType

from safepoint.errors import LockedError
from safepoint.parallel import join
from safepoint.store.backend.base import MissingObjectError, Storage, StorageError
from safepoint.store.lockinfo import MAX_COMMAND, _alive

NAME = "lock"
STALE_AFTER = 60.0
DEFAULT_WAIT = 30.0
POLL = 0.5


class LockLostError(LockedError):
    """The lock was taken over while held (its refreshes stopped for longer than the stale
    time, e.g. a host that was suspended): nothing more may be written."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    command: str
    since: str
    refreshed: float
    token: str

    def describe(self) -> str:
        try:
            when = f"{datetime.fromisoformat(self.since).astimezone():%Y-%m-%d %H:%M:%S}"
        except ValueError:
            when = self.since
        return f"pid {self.pid} on host {self.host} ({self.command}) since {when}"

    def is_stale(self, now: float, stale_after: float) -> bool:
        if self.host == socket.gethostname() and not _alive(self.pid):
            return True
        return now - self.refreshed > stale_after


def _command() -> str:
    argv = [os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:]]
    command = shlex.join(argv)
    return command if len(command) <= MAX_COMMAND else command[: MAX_COMMAND - 3] + "..."


def read_holder(storage: Storage) -> tuple[Holder | None, str] | None:
    """The lock's holder and version; (None, tag) for an object that is not a readable lock,
    None when there is no lock."""
    info = storage.stat(NAME)
    if info is None:
        return None
    try:
        data = storage.get(NAME)
    except MissingObjectError:
        return None  # released between the two requests
    try:
        doc = json.loads(data)
        holder = Holder(
            str(doc["host"]), int(doc["pid"]), str(doc["command"]), str(doc["since"]),
            float(doc["refreshed"]), str(doc["token"]),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return None, info.tag
    return holder, info.tag


class RemoteLock:
    """``with RemoteLock(storage): ...`` holds the lock for the block; call ``check()`` before
    each write that must not happen without it (the commit of a checkpoint record)."""

    def __init__(
        self,
        storage: Storage,
        *,
        wait: float = DEFAULT_WAIT,
        stale_after: float = STALE_AFTER,
        refresh_every: float | None = None,
    ) -> None:
        self.storage = storage
        self.wait = wait
        self.stale_after = stale_after
        self.refresh_every = refresh_every if refresh_every is not None else stale_after / 4
        self.holder: Holder | None = None
        self._tag = ""
        self._lost = False
        self._stop = threading.Event()
        self._writing = threading.Lock()  # a refresh and check() see one tag
        self._thread: threading.Thread | None = None

    def _doc(self, since: str, token: str) -> bytes:
        holder = Holder(socket.gethostname(), os.getpid(), _command(), since, time.time(), token)
        self.holder = holder
        return json.dumps(asdict(holder)).encode() + b"\n"

    def acquire(self) -> None:
        since = datetime.now().astimezone().isoformat(timespec="seconds")
        token = secrets.token_hex(16)
        deadline = time.monotonic() + self.wait
        while True:
            if self.storage.put_if_absent(NAME, self._doc(since, token)):
                info = self.storage.stat(NAME)
                self._tag = info.tag if info is not None else ""
                break
            found = read_holder(self.storage)
            holder = None if found is None else found[0]
            if found is None:
                pause = 0.05  # released between our attempt and the read: try again soon
            elif holder is not None and holder.is_stale(time.time(), self.stale_after):
                new_tag = self.storage.put_if_match(NAME, self._doc(since, token), found[1])
                if new_tag is not None:
                    self._tag = new_tag
                    break
                pause = 0.05  # another taker won, or the holder refreshed: look again
            else:
                pause = POLL * random.uniform(0.5, 1.5)
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockedError(self._taken_message(holder))
            time.sleep(min(left, pause))
        self._stop.clear()
        self._thread = threading.Thread(target=self._refresh, name="safepoint-lock", daemon=True)
        self._thread.start()

    def _taken_message(self, holder: Holder | None) -> str:
        who = holder.describe() if holder else "an unreadable lock object"
        return (
            f"the repository {self.storage.url} is locked by {who}; gave up after waiting"
            f" {self.wait:g} s (a lock turns stale {self.stale_after:g} s after its last"
            " refresh; 'safepoint unlock' removes a stale one)"
        )

    def _refresh(self) -> None:
        assert self.holder is not None
        while not self._stop.wait(self.refresh_every):
            doc = self._doc(self.holder.since, self.holder.token)
            with self._writing:
                try:
                    new_tag = self.storage.put_if_match(NAME, doc, self._tag)
                except StorageError:
                    continue  # transient: a later refresh may succeed before the lock is stale
                if new_tag is None:
                    self._lost = True
                    return
                self._tag = new_tag

    def check(self) -> None:
        """Raise ``LockLostError`` unless the lock object is still the version this holder
        wrote last (one stat request)."""
        with self._writing:
            if not self._lost:
                info = self.storage.stat(NAME)
                self._lost = info is None or info.tag != self._tag
        if self._lost:
            raise LockLostError(
                f"the lock on {self.storage.url} was taken over by another writer while held"
                " (not refreshed in time): nothing more was written"
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            join(self._thread)
            self._thread = None
        if self._lost or self.holder is None:
            return
        found = read_holder(self.storage)
        if found is not None and found[0] is not None and found[0].token == self.holder.token:
            self.storage.delete(NAME)
        self.holder = None

    def __enter__(self) -> RemoteLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(StorageError):
            self.release()


def break_lock(
    storage: Storage, *, force: bool = False, stale_after: float = STALE_AFTER
) -> Holder | None:
    """``safepoint unlock``: remove a stale lock (any lock with ``force``); the holder it named,
    or None when there was no lock. A fresh lock is refused without ``force``."""
    found = read_holder(storage)
    if found is None:
        return None
    holder, _tag = found
    if not force and (holder is None or not holder.is_stale(time.time(), stale_after)):
        who = holder.describe() if holder else "an unreadable lock object"
        raise LockedError(
            f"the lock on {storage.url} is held by {who} and is not stale: remove it with"
            " --force only if that process is surely gone"
        )
    storage.delete(NAME)
    return holder
