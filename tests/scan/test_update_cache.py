"""After a rollback the tree cache is brought up to date by listing the directories the plan
touched, never by reading files: a file there that neither the rollback wrote nor the cache
vouches for leaves its directory to the next scan, which reads it then."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import safepoint
from safepoint.scan import tree as tree_module
from tests.helpers import make_site, write


def test_updating_the_cache_after_a_rollback_reads_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_site(tmp_path / "site")
    safepoint.init_site(root)
    # A file with an mtime in the future is racy in every scan: no cache vouches for it.
    future = time.time_ns() + 3600 * 10**9
    racy = write(root / "eventsite" / "wsgi.py", "application = None\n")
    os.utime(racy, ns=(future, future))
    with safepoint.open_site(root) as site:
        first = safepoint.create_checkpoint(site, label="v1").checkpoint
    write(root / "eventsite" / "urls.py", "urlpatterns = ['edited']\n")  # beside it

    read: list[str] = []
    switched: list[bool] = []
    real = tree_module.hash_files

    def counting(root: str, batch: list, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        read.extend(f"{'after' if switched else 'before'}:{e.path}" for e in batch)
        return real(root, batch, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tree_module, "hash_files", counting)
    with safepoint.open_site(root) as site:
        result = safepoint.rollback(
            site, first.id, check_health=False, on_switch=lambda: switched.append(True)
        )
    assert [e.path for e in result.plan.write] == ["eventsite/urls.py"]
    assert "before:eventsite/wsgi.py" in read  # the safety checkpoint read it
    assert not [r for r in read if r.startswith("after:")]  # the cache update read nothing
    assert (root / "eventsite" / "urls.py").read_text() == "urlpatterns = []\n"

    # The next read of the tree reads the racy file (as always) and its directory.
    read.clear()
    switched.clear()
    with safepoint.open_site(root) as site:
        tree = tree_module.read_tree(site.root, site.rules, site.repository.cache_path)
    assert "before:eventsite/wsgi.py" in read
    assert {e.path: e.blob for e in tree.entries}["eventsite/urls.py"]
