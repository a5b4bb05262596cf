from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_site, sp


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """An initialised site with every kind of entry (see helpers.make_site)."""
    root = make_site(tmp_path / "site")
    sp("init", cwd=root, check=True)
    return root
