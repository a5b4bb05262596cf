"""Work on many files in a small thread pool, in groups; waits on other threads that Ctrl-C cuts.

hashlib, zstandard and file I/O release the GIL, so a few threads keep both cores busy. A pool
task per file, though, costs more in futures and GIL hand-offs than a small file's work: tasks
take groups of about ``BATCH_BYTES`` (at most ``BATCH_ITEMS`` items) instead.

The kernel hands a process's SIGINT to any of its threads that does not block it, not always to
the main thread, and only the main thread runs Python's handler. A main thread blocked without a
timeout (``future.result()``, ``pool.map``, ``thread.join()``) while a worker took the signal
does not see Ctrl-C until that wait ends, sometimes not at all: a health check's ``sleep 100``
kept ``safepoint health`` running to its deadline after Ctrl-C. Every wait of the main thread on
another thread goes through :func:`result_of`, :func:`ordered` or :func:`join`, which wake every
:data:`POLL` seconds; the main thread then takes the GIL back, notices the pending signal and
raises ``KeyboardInterrupt``. (Blocking SIGINT in the workers instead would leak the blocked
signal into every command they start.)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from itertools import islice
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS = 3
BATCH_BYTES = 4 * 1024 * 1024
BATCH_ITEMS = 64

POLL = 0.1
"""Seconds the main thread waits on another thread at a time: how late Ctrl-C may be noticed."""


def result_of(future: Future[R]) -> R:
    """``future.result()``, in waits of :data:`POLL` seconds (see the module's docstring)."""
    while not wait((future,), timeout=POLL).done:
        pass
    return future.result()


def ordered(
    pool: Executor, work: Callable[[T], R], items: Iterable[T], *, ahead: int | None = None
) -> Iterator[R]:
    """``pool.map(work, items)`` whose waits Ctrl-C cuts short; on an exception (or when the
    caller stops early) the items not yet started are dropped. ``ahead`` (1 or more): while
    the caller holds one result, at most that many items are under way beyond it (work whose
    results take room: downloads to disk); None: every item is submitted at once."""
    rest = iter(items)
    first = islice(rest, None if ahead is None else max(ahead, 1))
    queue = deque(pool.submit(work, item) for item in first)
    try:
        while queue:
            future = queue.popleft()
            queue.extend(pool.submit(work, item) for item in islice(rest, 1))
            yield result_of(future)
    finally:
        for future in queue:
            future.cancel()


def join(thread: threading.Thread) -> None:
    """``thread.join()``, in waits of :data:`POLL` seconds."""
    while thread.is_alive():
        thread.join(POLL)


def batches(items: Sequence[T], size_of: Callable[[T], int]) -> Iterator[list[T]]:
    batch: list[T] = []
    total = 0
    for item in items:
        size = size_of(item)
        if batch and (total + size > BATCH_BYTES or len(batch) >= BATCH_ITEMS):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += size
    if batch:
        yield batch


def map_batches(
    work: Callable[[list[T]], list[R]],
    items: Sequence[T],
    size_of: Callable[[T], int],
    *,
    workers: int = WORKERS,
) -> Iterator[R]:
    """``work`` applied to groups of ``items`` in the pool; results in the order of ``items``.
    The first exception raised by ``work`` is raised here."""
    groups = list(batches(items, size_of))
    if len(groups) <= 1:  # not worth a pool
        for group in groups:
            yield from work(group)
        return
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for results in ordered(pool, work, groups):
            yield from results
    except BaseException:
        # Ctrl-C or a failure: drop the groups not started, or the interrupted command would
        # first finish all of them (``with`` waits for every queued task).
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def map_each(
    work: Callable[[T], R],
    items: Sequence[T],
    size_of: Callable[[T], int],
    *,
    workers: int = WORKERS,
) -> Iterator[R]:
    """``work`` applied to each item, in groups (see ``map_batches``)."""
    return map_batches(
        lambda group: [work(item) for item in group], items, size_of, workers=workers
    )
