"""Work on many files in a small thread pool, in groups.

hashlib, zstandard and file I/O release the GIL, so a few threads keep both cores busy. A pool
task per file, though, costs more in futures and GIL hand-offs than a small file's work: tasks
take groups of about ``BATCH_BYTES`` (at most ``BATCH_ITEMS`` items) instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS = 3
BATCH_BYTES = 4 * 1024 * 1024
BATCH_ITEMS = 64


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
        for results in pool.map(work, groups):
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
