"""A file that changes while it is read: the checkpoint either reads it again until it holds
still or fails with a clear message; a blob never holds bytes other than those it is named by."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from safepoint.scan.hashing import read_stable
from tests.helpers import sp, write


def rewrite_forever(path: Path, stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        i += 1
        with open(path, "wb") as f:  # truncate, then write in pieces: readers can see a mix
            for _ in range(64):
                f.write(bytes([i % 251]) * (4096 + i % 7))


def test_read_stable_reports_changes_or_returns_a_consistent_stat(tmp_path: Path) -> None:
    path = write(tmp_path / "busy.bin", b"x" * 100_000)
    stop = threading.Event()
    writer = threading.Thread(target=rewrite_forever, args=(path, stop))
    writer.start()
    try:
        changed = consistent = 0
        for _ in range(300):
            data, st = read_stable(str(path))
            if st is None:
                changed += 1
            else:
                assert len(data) == st.st_size  # what is returned as stable matches its stat
                consistent += 1
    finally:
        stop.set()
        writer.join()
    assert changed + consistent == 300


@pytest.mark.slow  # checkpoints while a writer runs: ~9 s
def test_checkpoints_of_a_busy_tree_are_complete_or_refused(site: Path) -> None:
    busy = write(site / "eventsite" / "busy.log.txt", b"start")
    stop = threading.Event()
    writer = threading.Thread(target=rewrite_forever, args=(busy, stop))
    writer.start()
    try:
        outcomes = set()
        for _ in range(8):
            os.utime(busy)  # make sure the stat cache never vouches for it
            proc = sp("create", cwd=site)
            assert "Traceback" not in proc.stderr
            if proc.returncode == 0:
                outcomes.add("made")
            else:
                assert proc.returncode == 1 and "kept changing" in proc.stderr, proc.stderr
                outcomes.add("refused")
    finally:
        stop.set()
        writer.join()
    verified = sp("verify", cwd=site)
    assert verified.returncode == 0, verified.stdout  # every stored blob matches its id
    assert outcomes


def test_read_stable_reads_on_after_a_short_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One read is asked for the whole file; whatever a read returns short, the rest is read."""
    from safepoint.scan import hashing

    path = write(tmp_path / "f.bin", bytes(range(256)) * 40)
    real = os.read
    monkeypatch.setattr(hashing.os, "read", lambda fd, n: real(fd, min(n, 1000)))
    data, st = read_stable(str(path))
    assert data == path.read_bytes() and st is not None and st.st_size == len(data)
