"""``--wait``, ``unlock`` and ``key add|list|remove`` on a repository in S3 (moto on
127.0.0.1), through real ``safepoint`` subprocesses; the lock is held by another process
(tests/store/backend/lockholder.py) as another host's writer would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, sp, write
from tests.remote.conftest import PASSWORD, Remote

pytestmark = pytest.mark.slow  # scrypt and moto: about a second per command


def holder(remote: Remote) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.store.backend.lockholder", remote.url, "5"],
        env={**os.environ, **remote.env},
        cwd=Path(__file__).parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
    proc.wait(timeout=30)


def site(remote: Remote, root: Path) -> Path:
    remote.site(root)
    write(root / "app.py", "v1\n")
    assert sp("init", cwd=root, env=remote.env).returncode == 0
    return root


def test_a_writer_waits_for_the_lock_then_names_its_holder(remote: Remote, tmp_path: Path) -> None:
    a = site(remote, tmp_path / "a")
    held = holder(remote)
    try:
        started = time.monotonic()
        proc = sp("create", "--wait", "1", cwd=a, env=remote.env)
        waited = time.monotonic() - started
        assert_one_line_error(proc, 1)
        assert f"pid {held.pid}" in proc.stderr or str(held.pid) in proc.stderr, proc.stderr
        assert os.uname().nodename in proc.stderr
        assert waited >= 1
        # Readers never need the lock.
        assert sp("list", cwd=a, env=remote.env).returncode == 0
        # A fresh lock is not removed without --force.
        refused = sp("unlock", cwd=a, env=remote.env)
        assert_one_line_error(refused, 1)
        assert "--force" in refused.stderr
    finally:
        release(held)
    # Released: the writer goes through, and waits for a lock freed while it waits.
    held = holder(remote)
    try:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("safepoint")), "create", "--wait", "30"],
            cwd=a, env={**os.environ, **remote.env}, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(1.5)
        release(held)
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    finally:
        release(held)


def test_unlock_force_removes_a_fresh_lock(remote: Remote, tmp_path: Path) -> None:
    a = site(remote, tmp_path / "a")
    held = holder(remote)
    try:
        forced = sp("unlock", "--force", cwd=a, env=remote.env)
        assert forced.returncode == 0, forced.stderr
        assert "removed the lock" in forced.stdout and str(held.pid) in forced.stdout
        assert sp("create", "--wait", "0", cwd=a, env=remote.env).returncode == 0
        assert "no lock" in sp("unlock", cwd=a, env=remote.env).stdout
    finally:
        release(held)


def test_key_add_list_remove(remote: Remote, tmp_path: Path) -> None:
    a = site(remote, tmp_path / "a")
    env = {**remote.env, "SAFEPOINT_NEW_PASSWORD": "second passphrase"}
    added = sp("key", "add", "--label", "ops team", cwd=a, env=env)
    assert added.returncode == 0, added.stderr
    slot = added.stdout.split()[-1]
    listed = sp("key", "list", cwd=a, env=remote.env).stdout
    assert "ops team" in listed and slot in listed and len(listed.splitlines()) == 2
    # The new passphrase opens the repository; after removing the first slot, the old one
    # does not.
    second = {**remote.env, "SAFEPOINT_PASSWORD": "second passphrase"}
    assert sp("list", cwd=a, env=second).returncode == 0
    first = next(line.split()[0] for line in listed.splitlines() if slot not in line)
    removed = sp("key", "remove", first, cwd=a, env=second)
    assert removed.returncode == 0, removed.stderr
    old = sp("list", cwd=a, env={**remote.env, "SAFEPOINT_PASSWORD": PASSWORD})
    assert_one_line_error(old, 2)
    assert "wrong passphrase" in old.stderr
    last = sp("key", "remove", slot, cwd=a, env=second)
    assert_one_line_error(last, 2)
    assert "last one" in last.stderr


def test_key_on_a_local_repository_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "a" / "app.py", "v1\n")
    sp("init", cwd=tmp_path / "a", check=True)
    assert_one_line_error(sp("key", "list", cwd=tmp_path / "a"), 2)
    assert_one_line_error(sp("unlock", cwd=tmp_path / "a"), 2)
