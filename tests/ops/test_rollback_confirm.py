"""An interactive rollback: the plan the user confirms is the plan applied. It is made once;
when the site changes while the prompt waits, the rollback goes on only if it would still take
the steps the user was shown, else it refuses with the site as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

import safepoint
from safepoint.ops import apply as apply_module
from safepoint.ops import rollback as rollback_module
from safepoint.ops.rollback import RollbackResult
from tests.helpers import EXCLUDED, make_site, snapshot, write


def _site(tmp_path: Path) -> tuple[Path, str]:
    """A site with checkpoint ``v1``, then ``eventsite/urls.py`` edited (what a rollback to
    v1 writes back)."""
    root = make_site(tmp_path / "site")
    safepoint.init_site(root)
    with safepoint.open_site(root) as site:
        first = safepoint.create_checkpoint(site, label="v1").checkpoint
    write(root / "eventsite" / "urls.py", "urlpatterns = ['edited']\n")
    return root, first.id


def test_the_plan_shown_is_made_once_and_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, v1 = _site(tmp_path)
    plans: list[object] = []
    real = apply_module.plan_for
    for module in (rollback_module, apply_module):  # the rollback's planning, and the apply's
        monkeypatch.setattr(module, "plan_for", lambda *a: plans.append(a) or real(*a))
    shown: list[RollbackResult] = []
    with safepoint.open_site(root) as site:
        result = safepoint.rollback(
            site, v1, confirm=lambda p: shown.append(p) or True, check_health=False
        )
    assert len(plans) == 1  # the tree was planned once, not again after the answer
    assert result.plan is shown[0].plan
    assert [e.path for e in result.plan.write] == ["eventsite/urls.py"]
    assert (root / "eventsite" / "urls.py").read_text() == "urlpatterns = []\n"


def test_a_file_added_while_the_prompt_waits_is_not_removed_unasked(tmp_path: Path) -> None:
    """The user was shown one file to write; a file created meanwhile would be removed by a
    plan made again, which the user never saw: the rollback refuses, nothing changed."""
    root, v1 = _site(tmp_path)
    before: dict[bytes, tuple[object, ...]] = {}

    def confirm(preview: RollbackResult) -> bool:
        assert [e.path for e in preview.plan.write] == ["eventsite/urls.py"]
        assert not preview.plan.remove
        write(root / "eventsite" / "views.py", "def index(request): ...\n")
        before.update(snapshot(root, skip=EXCLUDED))
        return True

    with safepoint.open_site(root) as site, pytest.raises(safepoint.SafepointError) as info:
        safepoint.rollback(site, v1, confirm=confirm, check_health=False)
    assert info.value.exit_code == 1
    assert "changed while the rollback waited for confirmation" in str(info.value)
    assert "nothing in the site was changed" in str(info.value)
    assert (root / "eventsite" / "views.py").exists()
    assert snapshot(root, skip=EXCLUDED) == before


def test_a_change_that_leaves_the_steps_as_shown_goes_on(tmp_path: Path) -> None:
    """Edited again while the prompt waits, the file to write is still the one step: the
    rollback goes on, from the tree its safety checkpoint holds (the undo would come back to
    the file as edited last)."""
    root, v1 = _site(tmp_path)

    def confirm(preview: RollbackResult) -> bool:
        write(root / "eventsite" / "urls.py", "urlpatterns = ['edited twice']\n")
        return True

    with safepoint.open_site(root) as site:
        result = safepoint.rollback(site, v1, confirm=confirm, check_health=False)
        assert result.safety is not None
        safety = {e.path: e for e in site.repository.load_manifest(result.safety)}
    assert [e.path for e in result.plan.write] == ["eventsite/urls.py"]
    assert (root / "eventsite" / "urls.py").read_text() == "urlpatterns = []\n"
    with safepoint.open_site(root) as site:  # the undo brings back the last edit
        safepoint.rollback(site, result.safety.id, check_health=False)
    assert (root / "eventsite" / "urls.py").read_text() == "urlpatterns = ['edited twice']\n"
    assert safety["eventsite/urls.py"].size == len("urlpatterns = ['edited twice']\n")
