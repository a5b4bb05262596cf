from __future__ import annotations

import os
from pathlib import Path

import pytest

from safepoint.store.backend.base import Storage
from safepoint.store.backend.encrypted import EncryptedStorage
from safepoint.store.backend.keys import MasterKey
from safepoint.store.backend.local import LocalStorage
from safepoint.store.backend.s3 import S3Storage
from tests.store.backend.servers import Server, new_bucket


def use_server(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the AWS environment at ``server``; a fresh ``s3://BUCKET/repo`` URL on it."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in server.env(tmp_path).items():
        monkeypatch.setenv(name, value)
    return f"s3://{new_bucket(server)}/repo"


@pytest.fixture
def s3_url(moto: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return use_server(moto, tmp_path, monkeypatch)


def make_storage(kind: str, tmp_path: Path, s3_url: str) -> Storage:
    inner: Storage = S3Storage(s3_url) if kind.endswith("s3") else LocalStorage(tmp_path / "r")
    if kind.startswith("encrypted"):
        return EncryptedStorage(inner, MasterKey(os.urandom(32)))
    return inner


KINDS = ["local", "s3", "encrypted-local", "encrypted-s3"]


@pytest.fixture(params=KINDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    # The S3 server only for the kinds that use it, so local runs need no server.
    url = request.getfixturevalue("s3_url") if request.param.endswith("s3") else ""
    return make_storage(request.param, tmp_path, url)
