"""``CachedRepository``: the local cache repository of a remote one (see store/remote_sync.py).

It is an ordinary repository whose packs may be absent until first read, whose writers also
hold the remote lock and push what they wrote, and whose upkeep pulls from the remote instead
of forgetting packs missing from the cache (they are on the remote).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from safepoint.store.pack import Location, pack_path
from safepoint.store.records import Checkpoint, Marks
from safepoint.store.remote_sync import RemoteSync
from safepoint.store.repository import Repository


class CachedRepository(Repository):
    def __init__(self, path: Path, sync: RemoteSync) -> None:
        super().__init__(path)
        self.sync = sync
        self.url = sync.url

    def pull(self) -> None:
        self.sync.pull(self)

    def push(self) -> None:
        self.sync.push(self)

    @contextmanager
    def lock(self, *, sync_index: bool = True) -> Iterator[None]:
        """The local lock (one writer of this cache), and a pull of what other hosts wrote.
        The remote lock is taken only while objects are uploaded (``save_checkpoint``, and
        at the end of the block for anything an interrupted command left unpushed), never
        across a reload and health proof. A gc on another host may delete a pack the cache's
        index knows after this pull: the push checks for that (store/remote_gc.py)."""
        with super().lock(sync_index=sync_index):
            self.pull()
            _pause_after_pull()
            yield
            if self.sync.unpushed(self):  # after a failure: the next writer's (records go at once)
                self.push_locked()

    def push_locked(self, then: Callable[[], object] = lambda: None) -> None:
        """Under the remote lock (waiting for another host's): ``then``, and upload what the
        remote lacks."""
        with self.sync.remote_lock() as remote:
            self.sync.lock = remote
            try:
                then()
                self.push()
            finally:
                self.sync.lock = None

    def save_checkpoint(self, cp: Checkpoint) -> Checkpoint:
        """Under the remote lock, the record in the cache, then its packs, index objects and
        itself on the remote, before the command goes on (a rollback changes no file before
        its safety checkpoint is off the host). The lock held by another host past
        ``--wait``: no record is written."""
        saved: list[Checkpoint] = []
        self.push_locked(lambda: saved.append(super(CachedRepository, self).save_checkpoint(cp)))
        return saved[0]

    def _keep_up(self) -> None:
        """Nothing to sweep in a cache: its packs are on the remote (pull runs in ``lock``)."""

    def _pack_fd(self, name: str) -> int:
        try:
            return super()._pack_fd(name)
        except FileNotFoundError:
            # One pack read before any prefetch (a manifest's, say), with the bar too; still
            # not found when the remote has no such pack either.
            self.sync.fetch_all(self.packs_dir, [name])
            return super()._pack_fd(name)

    def prefetch(self, locations: Iterable[Location]) -> None:
        self.sync.fetch_all(self.packs_dir, {loc.pack for loc in locations})

    def stored_soundly(self, loc: Location) -> bool:
        if not pack_path(self.packs_dir, loc.pack).exists():
            return loc.pack in self.sync.remote_packs  # checked when it was fetched
        return super().stored_soundly(loc)

    def set_marks(self, cp: Checkpoint, marks: Marks) -> Checkpoint:
        done = super().set_marks(cp, marks)
        self.sync.push_marks(self.marks_dir, self.path, [cp.id])
        return done

    def forget(self, cp: Checkpoint) -> None:
        """On the remote first (under its lock), then in the cache."""
        body = (self.records_dir / f"{cp.id}.json").read_bytes()
        self.push_locked(lambda: self.sync.forget(body))
        super().forget(cp)

    def undelete(self, cp: Checkpoint) -> None:
        body = (self.forgotten_dir / f"{cp.id}.json").read_bytes()
        self.push_locked(lambda: self.sync.forget(body, undo=True))
        super().undelete(cp)

    def close(self) -> None:
        super().close()
        self.sync.transfer.report()
        self.sync.transfer.sent = self.sync.transfer.received = 0


PAUSE_ENV = "SAFEPOINT_TEST_PAUSE_AFTER_PULL"  # test-only: FILE
PAUSE_LIMIT = 120.0


def _pause_after_pull() -> None:
    """Test-only: with ``SAFEPOINT_TEST_PAUSE_AFTER_PULL=FILE``, a writer creates
    ``FILE.paused`` after its pull and waits (at most two minutes) until FILE exists, so that a
    test can run a gc on another host in between, deterministically."""
    go = os.environ.get(PAUSE_ENV)
    if not go:
        return
    open(go + ".paused", "w").close()
    deadline = time.monotonic() + PAUSE_LIMIT
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
