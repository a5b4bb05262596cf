"""``parallel.ordered``: results in order, a bounded look-ahead, and work not started dropped
when the caller stops or a worker fails (real threads)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from safepoint.parallel import ordered


def test_ordered_hands_results_in_order_with_at_most_ahead_items_under_way() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        time.sleep(0.005)
        return i * 2

    with ThreadPoolExecutor(4) as pool:
        for k, result in enumerate(ordered(pool, work, range(12), ahead=2)):
            assert result == k * 2
            time.sleep(0.03)  # the workers run as far ahead as they may
            with lock:
                assert max(started) <= k + 2, (k, started)
    assert sorted(started) == list(range(12))


def test_items_not_started_are_dropped_when_the_caller_stops_or_a_worker_fails() -> None:
    started: list[int] = []

    def work(i: int) -> int:
        started.append(i)
        time.sleep(0.01)
        if i == 2:
            raise ValueError("pack 2 is unreadable")
        return i

    with ThreadPoolExecutor(1) as pool:
        for _ in ordered(pool, work, range(50)):
            break
    assert len(started) < 5, started

    started.clear()
    with ThreadPoolExecutor(1) as pool, pytest.raises(ValueError, match="pack 2"):
        list(ordered(pool, work, range(50)))
    assert len(started) < 6, started
