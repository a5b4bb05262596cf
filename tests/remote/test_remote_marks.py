"""Hosts marking one checkpoint of an S3 repository at the same time keep each other's marks
(a fleet rollback does exactly this: every host proves REF and marks it good on itself)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safepoint.ops.remote import open_remote_repository
from safepoint.store.cached import CachedRepository
from safepoint.store.records import BY_HAND
from tests.helpers import make_site, sp, write
from tests.remote.conftest import Remote

pytestmark = pytest.mark.slow  # moto, scrypt at every open


def _open(
    remote: Remote, root: Path, host: str, monkeypatch: pytest.MonkeyPatch
) -> CachedRepository:
    monkeypatch.setenv("SAFEPOINT_HOST", host)
    return open_remote_repository(remote.url, root, env=remote.env)


def _mark(repo: CachedRepository, cid: str, verdict: str) -> None:
    cp = next(c for c in repo.checkpoints() if c.id == cid)
    with repo.lock():
        repo.set_marks(cp, cp.marks.with_health(verdict, by=BY_HAND))


def test_two_hosts_marking_at_once_keep_both_marks(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in remote.env.items():
        monkeypatch.setenv(key, value)
    a, b = remote.site(make_site(tmp_path / "a")), remote.site(make_site(tmp_path / "b"))
    write(a / "app.py", "v1\n")
    for root in (a, b):
        sp("init", cwd=root, env=remote.env, check=True)
    sp("create", "--label", "v1", cwd=a, env=remote.env, check=True)
    cid = json.loads(sp("show", "v1", "--json", cwd=a, env=remote.env, check=True).stdout)["id"]

    # B has taken its lock (and pulled: no marks yet) when A marks: the race of a fleet batch,
    # where every host proves REF and marks it at about the same time.
    repo_a, repo_b = _open(remote, a, "a", monkeypatch), _open(remote, b, "b", monkeypatch)
    with repo_b.lock():
        monkeypatch.setenv("SAFEPOINT_HOST", "a")
        _mark(repo_a, cid, "good")
        monkeypatch.setenv("SAFEPOINT_HOST", "b")
        cp = next(c for c in repo_b.checkpoints() if c.id == cid)
        repo_b.set_marks(cp, cp.marks.with_health("bad", by=BY_HAND))
    repo_a.close()
    repo_b.close()

    for root, host, mine, other in ((a, "a", "good", "bad"), (b, "b", "bad", "good")):
        env = {**remote.env, "SAFEPOINT_HOST": host}
        doc = json.loads(sp("show", "v1", "--json", cwd=root, env=env, check=True).stdout)
        assert doc["marks"]["health"] == mine, (host, doc["marks"])
        others = {m["health_host"]: m["health"] for m in doc["marks"]["hosts"]}
        assert others == {"a": "good", "b": "bad"}, (host, doc["marks"])
        assert other in others.values()
