"""References as the issue met them, through the installed command: ``latest`` after a
rollback, the advice of the "no known-good checkpoint" error, flat safety labels, and a label
that looks like another checkpoint's id."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from safepoint.ops.site import open_site
from safepoint.store.records import now_iso
from tests.helpers import sp, sp_json, write


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    write(root / "app.py", "v1\n")
    sp("init", cwd=root, check=True)
    return root


@pytest.mark.slow
def test_latest_after_a_rollback_is_the_checkpoint_made_before_it(site: Path) -> None:
    v1 = sp_json("create", "--label", "v1", cwd=site)
    write(site / "app.py", "v2\n")
    v2 = sp_json("create", "--label", "v2", cwd=site)
    sp("rollback", "v1", "--yes", "--no-health", cwd=site, check=True)
    listed = sp_json("list", cwd=site)
    assert listed[0]["kind"] == "safety"  # the newest checkpoint is the safety one...
    assert sp_json("show", "latest", cwd=site)["id"] == v2["id"]  # ...latest is not
    sp("rollback", "latest", "--yes", "--no-health", cwd=site, check=True)
    assert (site / "app.py").read_text() == "v2\n"
    assert sp_json("show", "latest", cwd=site)["id"] == v2["id"]
    assert v1["id"] != v2["id"]


@pytest.mark.slow
def test_following_the_no_known_good_advice_never_lands_on_the_broken_tree(site: Path) -> None:
    sp("create", "--label", "v1", cwd=site, check=True)  # never proven: no known-good
    write(site / "app.py", "BROKEN\n")
    proc = sp("rollback", "--yes", cwd=site)
    assert proc.returncode == 2
    advice = proc.stderr.strip().splitlines()[-1]
    assert "no known-good checkpoint" in advice
    assert "latest" not in advice  # the old advice: twice, and the broken tree was back
    assert "safepoint list" in advice and "safepoint mark REF good" in advice
    for _ in range(2):
        # 'name one' from the list: the first row of the human listing
        first = sp("list", cwd=site, check=True).stdout.splitlines()[1].split()[0]
        sp("rollback", first, "--yes", "--no-health", cwd=site, check=True)
        assert (site / "app.py").read_text() == "v1\n"
        # the advice the old message gave
        sp("rollback", "latest", "--yes", "--no-health", cwd=site, check=True)
        assert (site / "app.py").read_text() == "v1\n"


@pytest.mark.slow  # a chain of rollbacks: ~6 s
def test_safety_labels_are_flat(site: Path) -> None:
    v1 = sp_json("create", "--label", "day2-stable", cwd=site)
    write(site / "app.py", "v2\n")
    sp("rollback", "day2-stable", "--yes", "--no-health", cwd=site, check=True)
    safety = sp_json("list", cwd=site)[0]
    assert safety["label"] == "safety: before rollback to day2-stable"
    sp("rollback", safety["id"], "--yes", "--no-health", cwd=site, check=True)
    second = sp_json("list", cwd=site)[0]
    assert second["kind"] == "safety"
    assert second["label"] == f"safety: before rollback to {safety['short_id']}"
    sp("rollback", second["id"], "--yes", "--no-health", cwd=site, check=True)
    third = sp_json("list", cwd=site)[0]
    assert third["label"] == f"safety: before rollback to {second['short_id']}"
    unlabelled = sp_json("create", cwd=site)
    sp("rollback", v1["id"], "--yes", "--no-health", cwd=site, check=True)
    sp("rollback", unlabelled["short_id"], "--yes", "--no-health", cwd=site, check=True)
    assert sp_json("list", cwd=site)[0]["label"] == (
        f"safety: before rollback to {unlabelled['short_id']}"
    )
    assert not any(
        re.search("before.rollback.to.*before.rollback", c["label"] or "")
        for c in sp_json("list", cwd=site)
    )


@pytest.mark.slow
def test_a_label_equal_to_another_checkpoints_id_does_not_hijack_it(site: Path) -> None:
    v1 = sp_json("create", "--label", "v1", cwd=site)
    write(site / "app.py", "v2\n")
    sp("create", "--label", "v2", cwd=site, check=True)
    # A newer record labelled with v1's id, as an earlier version or an import could write
    # (creating such a label is refused now).
    with open_site(site) as s:
        v2 = s.repository.checkpoints()[0]
        s.repository.save_checkpoint(replace(v2, label=v1["id"], created=now_iso()))
        s.repository.save_checkpoint(replace(v2, label=v1["id"][:10], created=now_iso()))
    for ref in (v1["id"], v1["id"][:10]):
        write(site / "app.py", "v3\n")
        sp("rollback", ref, "--yes", "--no-health", cwd=site, check=True)
        assert (site / "app.py").read_text() == "v1\n", ref
        assert sp_json("show", ref, cwd=site)["id"] == v1["id"]
