"""The cross-host lock object (``store/backend/lock.py``) on a local directory and on a real
S3 server: contention between processes, stale locks, refresh, take-over and unlock."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safepoint.errors import LockedError
from safepoint.store.backend.base import Storage
from safepoint.store.backend.lock import NAME, LockLostError, RemoteLock, break_lock
from tests.store.backend.conftest import make_storage

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Storage, str]:
    """A storage and the URL another process opens it by."""
    if request.param == "s3":
        url = request.getfixturevalue("s3_url")
        return make_storage("s3", tmp_path, url), url
    return make_storage("local", tmp_path, ""), str(tmp_path / "r")


def _taker(url: str, wait: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store.backend.lockholder", url, str(wait)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _line(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no answer from the lock taker"
    return proc.stdout.readline().strip()


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate("\n", timeout=60)
    assert "Traceback" not in err, err
    return out


def _lock_doc(storage: Storage, *, host: str, pid: int, refreshed: float) -> None:
    doc = {"host": host, "pid": pid, "command": "safepoint create", "since": "2026-01-01T10:00:00",
           "refreshed": refreshed, "token": "0" * 32}  # fmt: skip
    storage.put(NAME, json.dumps(doc).encode())


@pytest.mark.slow  # processes importing boto3: seconds each
def test_a_second_process_waits_then_gives_up_naming_the_holder(
    where: tuple[Storage, str],
) -> None:
    storage, url = where
    holder = _taker(url, 0)
    try:
        assert _line(holder) == "held"
        started = time.monotonic()
        refused = subprocess.run(
            [sys.executable, "-m", "tests.store.backend.lockholder", url, "1.5"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        waited = time.monotonic() - started
        assert refused.returncode == 1, refused
        assert f"pid {holder.pid} on host {socket.gethostname()}" in refused.stdout
        assert "gave up after waiting 1.5 s" in refused.stdout
        assert waited >= 1.5
        assert "Traceback" not in refused.stderr
    finally:
        assert "released" in _finish(holder)
    assert storage.stat(NAME) is None


@pytest.mark.slow  # processes importing boto3: seconds each
def test_a_waiting_process_gets_the_lock_when_it_is_released(where: tuple[Storage, str]) -> None:
    storage, url = where
    holder = _taker(url, 0)
    assert _line(holder) == "held"
    waiter = _taker(url, 30)
    try:
        time.sleep(1)
        assert waiter.poll() is None  # still waiting
        assert "released" in _finish(holder)
        assert _line(waiter) == "held"
    finally:
        assert "released" in _finish(waiter)
        holder.kill()
    assert storage.stat(NAME) is None


@pytest.mark.slow  # processes importing boto3: seconds each
def test_two_processes_at_once_one_wins(where: tuple[Storage, str]) -> None:
    _storage, url = where
    takers = [_taker(url, 0), _taker(url, 0)]
    try:
        answers = [_line(t) for t in takers]
        assert sorted(a.split(":")[0] for a in answers) == ["held", "refused"]
        winner = takers[answers.index("held")]
        loser_says = answers[1 - answers.index("held")]
        assert f"pid {winner.pid} " in loser_says
    finally:
        for taker in takers:
            _finish(taker)


def test_lock_of_a_dead_local_process_is_taken_at_once(where: tuple[Storage, str]) -> None:
    storage, _url = where
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    # Refreshed just now: only the dead pid makes it stale.
    _lock_doc(storage, host=socket.gethostname(), pid=int(dead.stdout), refreshed=time.time())
    started = time.monotonic()
    with RemoteLock(storage, wait=0) as lock:
        assert time.monotonic() - started < 5
        assert lock.holder is not None
        doc = json.loads(storage.get(NAME))
        assert doc["token"] == lock.holder.token and doc["pid"] != int(dead.stdout)
    assert storage.stat(NAME) is None


def test_fresh_lock_of_another_host_is_not_taken(where: tuple[Storage, str]) -> None:
    storage, _url = where
    _lock_doc(storage, host="web-elsewhere", pid=1, refreshed=time.time())
    with pytest.raises(LockedError) as caught:
        RemoteLock(storage, wait=0.5).acquire()
    assert "pid 1 on host web-elsewhere (safepoint create)" in str(caught.value)
    assert json.loads(storage.get(NAME))["host"] == "web-elsewhere"


def test_lock_not_refreshed_for_the_stale_time_is_taken(where: tuple[Storage, str]) -> None:
    storage, _url = where
    _lock_doc(storage, host="web-elsewhere", pid=1, refreshed=time.time() - 61)
    with RemoteLock(storage, wait=0):
        assert json.loads(storage.get(NAME))["host"] == socket.gethostname()


@pytest.mark.slow
def test_refresh_keeps_a_lock_alive_past_the_stale_time(where: tuple[Storage, str]) -> None:
    storage, _url = where
    with RemoteLock(storage, stale_after=1.0, refresh_every=0.2) as held:
        time.sleep(2.5)
        with pytest.raises(LockedError):
            RemoteLock(storage, stale_after=1.0, wait=0).acquire()
        held.check()  # still ours
    # Control: without refreshes the same lock is taken over, and its holder learns so.
    unrefreshed = RemoteLock(storage, stale_after=1.0, refresh_every=100)
    unrefreshed.acquire()
    time.sleep(1.5)
    with RemoteLock(storage, stale_after=1.0, wait=0) as taker:
        with pytest.raises(LockLostError):
            unrefreshed.check()
        unrefreshed.release()  # must not remove the new holder's lock
        assert taker.holder is not None
        assert json.loads(storage.get(NAME))["token"] == taker.holder.token
    assert storage.stat(NAME) is None


def test_unreadable_lock_is_not_taken(where: tuple[Storage, str]) -> None:
    storage, _url = where
    storage.put(NAME, b"not json")
    with pytest.raises(LockedError, match="an unreadable lock object"):
        RemoteLock(storage, wait=0).acquire()
    with pytest.raises(LockedError):
        break_lock(storage)
    assert break_lock(storage, force=True) is None
    assert storage.stat(NAME) is None


def test_unlock_refuses_a_fresh_lock_without_force(where: tuple[Storage, str]) -> None:
    storage, _url = where
    assert break_lock(storage) is None  # no lock: nothing to do
    _lock_doc(storage, host="web-elsewhere", pid=77, refreshed=time.time())
    with pytest.raises(LockedError) as caught:
        break_lock(storage)
    assert "pid 77 on host web-elsewhere" in str(caught.value) and "--force" in str(caught.value)
    assert storage.stat(NAME) is not None
    removed = break_lock(storage, force=True)
    assert removed is not None and removed.pid == 77
    assert storage.stat(NAME) is None
    _lock_doc(storage, host="web-elsewhere", pid=78, refreshed=time.time() - 3600)
    stale = break_lock(storage)  # stale: no force needed
    assert stale is not None and stale.pid == 78
    assert storage.stat(NAME) is None


@pytest.mark.slow  # a process importing boto3
def test_lock_of_a_holder_killed_with_sigkill_is_taken_at_once(where: tuple[Storage, str]) -> None:
    storage, url = where
    holder = _taker(url, 0)
    assert _line(holder) == "held"
    holder.kill()
    holder.communicate(timeout=60)
    assert json.loads(storage.get(NAME))["pid"] == holder.pid  # left behind
    started = time.monotonic()
    with RemoteLock(storage, wait=0):
        assert time.monotonic() - started < 5
    assert storage.stat(NAME) is None
