"""A moto S3 server for the whole session, and sites whose repository is a bucket on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.backend.servers import Server, moto_server, new_bucket, rclone_server

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def rclone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with rclone_server(tmp_path_factory.mktemp("rclone")) as server:
        yield server


class Remote:
    """A bucket on a server, and the environment that points ``safepoint`` at it."""

    def __init__(self, server: Server, tmp_path: Path) -> None:
        self.server = server
        self.url = f"s3://{new_bucket(server)}/sites/shop"
        self.log = tmp_path / "transfer.log"
        self.env = {
            **server.env(tmp_path),
            "AWS_PROFILE": "",
            "SAFEPOINT_PASSWORD": PASSWORD,
            "SAFEPOINT_TRANSFER_LOG": str(self.log),
        }
        del self.env["AWS_PROFILE"]

    def site(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        (root / "safepoint.toml").write_text(f'[repository]\nurl = "{self.url}"\n')
        return root

    def transfers(self) -> list[dict[str, int]]:
        import json

        if not self.log.exists():
            return []
        out = [json.loads(line) for line in self.log.read_text().splitlines()]
        self.log.unlink()
        return out


@pytest.fixture
def remote(moto: Server, tmp_path: Path) -> Remote:
    return Remote(moto, tmp_path)
