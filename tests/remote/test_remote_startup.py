"""What each command on S3 costs before it does anything (a real moto server, every request
seen by a proxy), and that the start-up's speed-ups weaken nothing: a copy of a key slot
never opens a repository whose slot is gone."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, sp, write
from tests.remote.conftest import PASSWORD, Remote
from tests.remote.proxy import slow_link
from tests.store.backend.servers import Server

pytestmark = pytest.mark.slow  # several commands against moto each (scrypt: 0.5 s each)


def _kinds(requests: list[tuple[str, str]]) -> Counter[str]:
    """Requests by kind: ``list PREFIX``, ``METHOD lock``, ``METHOD object``."""
    out: Counter[str] = Counter()
    for method, path in requests:
        if "list-type=2" in path:
            out["list " + path.split("prefix=")[1].split("&")[0].split("%2F")[-2]] += 1
        elif path.split("?")[0].endswith("/lock"):
            out[f"{method} lock"] += 1
        else:
            out[f"{method} object"] += 1
    return out


def test_a_ten_edit_create_takes_the_remote_lock_once_and_status_lists_each_prefix_once(
    moto: Server, tmp_path: Path
) -> None:
    with slow_link(moto, delay=0) as link:
        remote = Remote(link.server, tmp_path)
        a = remote.site(tmp_path / "a")
        for i in range(30):
            write(a / "app" / f"m{i}.py", f"x = {i}\n")
        assert sp("init", cwd=a, env=remote.env).returncode == 0
        assert sp("create", cwd=a, env=remote.env).returncode == 0
        for i in range(10):
            write(a / "app" / f"m{i}.py", f"y = {i}\n")
        link.requests.clear()
        assert sp("create", cwd=a, env=remote.env).returncode == 0
        create = _kinds(link.requests)
        # Once to store the checkpoint; not again at the end only to find nothing to push.
        assert create["PUT lock"] == 1 and create["DELETE lock"] == 1, create
        link.requests.clear()
        assert sp("status", cwd=a, env=remote.env).returncode == 0
        status = _kinds(link.requests)
        for prefix in ("checkpoints", "forgotten", "marks", "index", "keys"):
            assert status[f"list {prefix}"] == 1, status
        assert status["PUT lock"] == 0 and status["PUT object"] == 0, status


def test_a_copied_key_slot_never_opens_a_repository_whose_slot_was_removed(
    remote: Remote, tmp_path: Path
) -> None:
    a = remote.site(tmp_path / "a")
    write(a / "app.py", "v1\n")
    assert sp("init", cwd=a, env=remote.env).returncode == 0
    assert sp("create", cwd=a, env=remote.env).returncode == 0
    [copy] = (a / ".safepoint-state").glob("key-slot-*.json")
    (first, doc), *_ = json.loads(copy.read_bytes()).items()
    # The copy is the slot's public document as the bucket holds it: nothing more.
    bucket, s3 = remote.bucket, remote.s3()
    prefix = remote.url.split("/", 3)[3]
    stored = s3.get_object(Bucket=bucket, Key=f"{prefix}/keys/{first}")["Body"].read()
    assert doc == json.loads(stored)
    assert copy.stat().st_mode & 0o077 == 0

    second = {**remote.env, "SAFEPOINT_PASSWORD": "second passphrase"}
    added = sp(
        "key", "add", cwd=a, env={**remote.env, "SAFEPOINT_NEW_PASSWORD": "second passphrase"}
    )
    assert added.returncode == 0, added.stderr
    removed = sp("key", "remove", first, cwd=a, env=second)
    assert removed.returncode == 0, removed.stderr
    assert first in copy.read_text()  # still the copy of the removed slot ...
    old = sp("list", cwd=a, env={**remote.env, "SAFEPOINT_PASSWORD": PASSWORD})
    assert_one_line_error(old, 2)  # ... which the old passphrase opens: refused all the same
    assert "wrong passphrase" in old.stderr
    assert sp("list", cwd=a, env=second).returncode == 0
    assert first not in copy.read_text()
