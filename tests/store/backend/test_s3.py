"""S3-specific behaviour: URLs, the optional dependency, errors as one line, and the probe for
conditional writes on a server that honours them (moto) and one that ignores them (rclone)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from safepoint.errors import ConfigError
from safepoint.store.backend.base import StorageError, UnsupportedStorageError
from safepoint.store.backend.local import LocalStorage
from safepoint.store.backend.probe import check_conditional_writes
from safepoint.store.backend.s3 import S3Storage, parse_url
from tests.store.backend.conftest import use_server
from tests.store.backend.servers import Server


def test_parse_url() -> None:
    assert parse_url("s3://bucket/some/prefix/") == ("bucket", "some/prefix")
    assert parse_url("s3://bucket") == ("bucket", "")
    for bad in ("s3://", "s3:///prefix", "http://host/b", "s3://b/p?x=1", "bucket/prefix"):
        with pytest.raises(ConfigError, match="not an S3 repository URL"):
            parse_url(bad)


def test_without_boto3_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # what an install without the extra sees
    with pytest.raises(ConfigError) as caught:
        S3Storage("s3://bucket/prefix")
    assert str(caught.value) == (
        "s3:// repositories need the s3 extra: pip install 'safepoint[s3]'"
    )


def test_moto_refuses_a_second_if_none_match(s3_url: str) -> None:
    """The property the lock stands on, checked on the server itself."""
    storage = S3Storage(s3_url)
    client, bucket = storage._s3, storage.bucket
    client.put_object(Bucket=bucket, Key="k", Body=b"1", IfNoneMatch="*")
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.put_object(Bucket=bucket, Key="k", Body=b"2", IfNoneMatch="*")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_probe_accepts_moto_and_a_local_directory(s3_url: str, tmp_path: Path) -> None:
    storage = S3Storage(s3_url)
    check_conditional_writes(storage)
    check_conditional_writes(LocalStorage(tmp_path / "local"))
    assert list(storage.list("")) == []  # the probe object is gone


def test_probe_refuses_a_server_that_ignores_conditional_writes(
    rclone: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = S3Storage(use_server(rclone, tmp_path, monkeypatch))
    storage.put("x", b"the server works otherwise")
    assert storage.get("x") == b"the server works otherwise"
    with pytest.raises(UnsupportedStorageError) as caught:
        check_conditional_writes(storage)
    assert caught.value.exit_code == 2
    assert "does not honour conditional writes (If-None-Match was ignored)" in str(caught.value)
    assert [i.name for i in storage.list("")] == ["x"]


def test_wrong_credentials_and_missing_bucket_are_one_line(
    s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket, _ = parse_url(s3_url)
    with pytest.raises(StorageError) as caught:
        S3Storage(f"s3://{bucket}-none/repo").put("x", b"1")
    assert caught.value.exit_code == 1
    assert "writing x in s3://" in str(caught.value) and "NoSuchBucket" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_objects_live_under_the_prefix(s3_url: str) -> None:
    storage = S3Storage(s3_url)
    storage.put("packs/ab/p", b"data")
    bucket, prefix = parse_url(s3_url)
    keys = [o["Key"] for o in storage._s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"{prefix}/packs/ab/p"]
    other = S3Storage(f"s3://{bucket}/other")
    assert list(other.list("")) == []


def test_open_storage_by_url(s3_url: str, tmp_path: Path) -> None:
    from safepoint.store.backend.open import open_storage

    remote = open_storage(s3_url)
    assert isinstance(remote, S3Storage) and remote.url == s3_url
    local = open_storage(str(tmp_path / "repo"))
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "repo"
