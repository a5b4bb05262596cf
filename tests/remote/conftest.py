"""Sites whose repository is a bucket on the session's moto server (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.store.backend.servers import Server, new_bucket

PASSWORD = "correct horse battery staple"


class Remote:
    """A bucket on a server, and the environment that points ``safepoint`` at it."""

    def __init__(self, server: Server, tmp_path: Path) -> None:
        self.server = server
        self.url = f"s3://{new_bucket(server)}/sites/shop"
        self.log = tmp_path / "transfer.log"
        self.env = {
            **server.env(tmp_path),
            "SAFEPOINT_PASSWORD": PASSWORD,
            "SAFEPOINT_TRANSFER_LOG": str(self.log),
        }

    def site(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        (root / "safepoint.toml").write_text(f'[repository]\nurl = "{self.url}"\n')
        return root

    @property
    def bucket(self) -> str:
        return self.url.removeprefix("s3://").split("/")[0]

    def s3(self) -> Any:
        """A boto3 client of the server, to look into the bucket as an outsider would."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.server.endpoint,
            aws_access_key_id=self.server.key,
            aws_secret_access_key=self.server.secret,
            region_name="us-east-1",
        )

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
