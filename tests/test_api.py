"""The Python API that the CLI is a thin layer over."""

from __future__ import annotations

from pathlib import Path

import pytest

import safepoint
from tests.helpers import EXCLUDED, make_site, snapshot


def test_api_init_create_list_restore(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    safepoint.init_site(root)
    with safepoint.open_site(root) as site:
        result = safepoint.create_checkpoint(site, label="api", note="from a script")
        assert result.checkpoint.label == "api"
        listed = safepoint.list_checkpoints(site)
        assert [c.id for c in listed] == [result.checkpoint.id]
        safepoint.restore_checkpoint(site, "api", tmp_path / "out")
    assert snapshot(tmp_path / "out") == snapshot(root, skip=EXCLUDED)


def test_api_errors_carry_exit_codes(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    safepoint.init_site(root)
    with safepoint.open_site(root) as site, pytest.raises(safepoint.SafepointError) as info:
        safepoint.find_checkpoint(site, "missing")
    assert info.value.exit_code == 2
