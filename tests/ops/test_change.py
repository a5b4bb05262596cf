"""``safepoint.change()``: the guarded change as a Python block, on a real site served on
127.0.0.1 (tests/guardedsite.py), in this process as a deploy script would use it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import safepoint
from safepoint.ops import demo_site
from tests.guardedsite import GuardedSite, guarded_site

pytestmark = pytest.mark.slow  # each proves a real server healthy two or three times


@pytest.fixture
def gsite(tmp_path: Path) -> Iterator[GuardedSite]:
    with guarded_site(tmp_path) as site:
        yield site


def test_exception_in_the_block_rolls_back_and_is_reraised(gsite: GuardedSite) -> None:
    app = gsite.root / "app.py"
    old = app.read_text()
    with safepoint.open_site(gsite.root) as site:
        with (
            pytest.raises(RuntimeError, match="half-way"),
            safepoint.change(site, label="edit views") as change,
        ):
            demo_site.break_site(gsite.root)
            (gsite.root / "views.py").write_text("x = 1\n")
            raise RuntimeError("half-way through the edit")
        result = change.result
        assert result is not None
        assert result.outcome == "rolled back" and result.exit_code == 5
        assert result.error == "RuntimeError: half-way through the edit"
        assert result.proof is None  # the half-done edit was not proven, only rolled back
        assert result.rollback is not None and result.rollback.proof is not None
        assert result.rollback.proof.ok
        labels = [c.label for c in safepoint.list_checkpoints(site) if c.kind == "manual"]
        assert labels == ["edit views"]
    assert app.read_text() == old and not (gsite.root / "views.py").exists()
    assert gsite.status() == 200


def test_failed_health_rolls_back_without_raising(gsite: GuardedSite) -> None:
    server = gsite.server_pid()
    with safepoint.open_site(gsite.root) as site:
        with safepoint.change(site, label="edit views") as change:
            demo_site.break_site(gsite.root)
        result = change.result
        assert result is not None and not result.ok
        assert result.outcome == "rolled back"
        assert result.proof is not None and not result.proof.ok  # the change was proven bad
        assert "status 500" in result.summary()
        assert result.after is None
    assert gsite.server_pid() != server  # reloaded (twice: the change, then the rollback)
    assert gsite.status() == 200


def test_good_block_is_kept_and_marked_known_good(gsite: GuardedSite) -> None:
    with safepoint.open_site(gsite.root) as site:
        with safepoint.change(site, label="add page") as change:
            (gsite.root / "page.txt").write_text("new\n")
        result = change.result
        assert result is not None and result.ok and result.exit_code == 0
        assert result.after is not None
        assert result.after.label == "after: add page"
        assert result.after.marks.health == "good" and result.after.marks.health_by == "run"
    assert (gsite.root / "page.txt").exists()
