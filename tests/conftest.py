from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_site, sp
from tests.store.backend.servers import Server, moto_server, rclone_server


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """An initialised site with every kind of entry (see helpers.make_site)."""
    root = make_site(tmp_path / "site")
    sp("init", cwd=root, check=True)
    return root


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A moto S3 server on 127.0.0.1 (enforces conditional writes), one per test process."""
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def rclone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``rclone serve s3`` on 127.0.0.1 (ignores conditional writes)."""
    with rclone_server(tmp_path_factory.mktemp("rclone")) as server:
        yield server
