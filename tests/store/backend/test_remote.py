"""Creating and opening an encrypted repository's storage (``store/backend/remote.py``) on a
real S3 server: join instead of re-create, a race of two inits, leftovers of an interrupted
init, a server without conditional writes."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from safepoint.errors import FormatError, SafepointError
from safepoint.store.backend import keys
from safepoint.store.backend.base import UnsupportedStorageError
from safepoint.store.backend.encrypted import EncryptedStorage
from safepoint.store.backend.keys import (
    MasterKey,
    PassphraseError,
    ScryptParams,
    add_key,
    list_keys,
)
from safepoint.store.backend.remote import (
    CONFIG,
    ExistingRepositoryError,
    create_remote,
    open_remote,
)
from safepoint.store.backend.s3 import S3Storage
from tests.store.backend.conftest import use_server
from tests.store.backend.servers import Server

FAST = ScryptParams(n=1 << 12)


def test_create_then_open(s3_url: str) -> None:
    bucket = S3Storage(s3_url)
    created = create_remote(bucket, "pw", params=FAST)
    created.storage.put("packs/ab/p", b"pack data")
    opened = open_remote(S3Storage(s3_url), "pw")
    assert opened.id == created.id and len(opened.id) == 32
    assert opened.storage.get("packs/ab/p") == b"pack data"
    assert b"safepoint-repository" not in bucket.get(CONFIG)  # sealed
    with pytest.raises(PassphraseError):
        open_remote(bucket, "wrong")


def test_init_on_an_existing_repository_is_told_to_join(s3_url: str) -> None:
    bucket = S3Storage(s3_url)
    create_remote(bucket, "pw", params=FAST)
    with pytest.raises(ExistingRepositoryError, match="already holds a repository: join it") as e:
        create_remote(bucket, "other", params=FAST)
    assert e.value.exit_code == 2
    assert len(list_keys(bucket)) == 1


def test_open_where_there_is_no_repository(s3_url: str) -> None:
    with pytest.raises(FormatError, match="holds no safepoint repository"):
        open_remote(S3Storage(s3_url), "pw")


def test_two_inits_at_once_make_one_repository(s3_url: str) -> None:
    bucket = S3Storage(s3_url)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def init(passphrase: str) -> None:
        barrier.wait()
        try:
            create_remote(bucket, passphrase, params=FAST)
            outcomes.append(f"created:{passphrase}")
        except ExistingRepositoryError:
            outcomes.append("join")

    threads = [threading.Thread(target=init, args=(p,)) for p in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(o.split(":")[0] for o in outcomes) == ["created", "join"]
    winner = next(o.split(":")[1] for o in outcomes if o.startswith("created"))
    assert len(list_keys(bucket)) == 1  # the loser removed its slot
    open_remote(bucket, winner)


def test_slots_of_an_interrupted_init_are_passed_over(
    s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = S3Storage(s3_url)
    created = create_remote(bucket, "pw", params=FAST)
    # A slot wrapping another master key under the same passphrase (an init killed between
    # its key slot and its config), named so that it is tried first.
    with monkeypatch.context() as m:
        m.setattr(keys.secrets, "token_hex", lambda n: "0" * (2 * n))
        add_key(bucket, MasterKey(b"\1" * 32), "pw", params=FAST)
    assert list_keys(bucket)[0].slot == "0" * 16 and len(list_keys(bucket)) == 2
    assert open_remote(bucket, "pw").id == created.id


def test_config_of_another_version_is_refused(s3_url: str) -> None:
    bucket = S3Storage(s3_url)
    created = create_remote(bucket, "pw", params=FAST)
    doc = {"format": "safepoint-repository", "version": 9, "id": created.id}
    EncryptedStorage(bucket, created.storage.key).put(CONFIG, json.dumps(doc).encode())
    with pytest.raises(FormatError, match="format version 9; this safepoint reads version 2"):
        open_remote(bucket, "pw")


def test_create_on_a_server_without_conditional_writes_writes_nothing(
    rclone: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = S3Storage(use_server(rclone, tmp_path, monkeypatch))
    with pytest.raises(UnsupportedStorageError) as caught:
        create_remote(bucket, "pw", params=FAST)
    assert isinstance(caught.value, SafepointError) and caught.value.exit_code == 2
    assert list(bucket.list("")) == []
