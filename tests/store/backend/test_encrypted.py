"""Encryption at rest (``store/backend/{crypto,keys,encrypted}.py``): key slots, passphrases,
tampering, and what a bucket listing reveals, against a real S3 server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import boto3
import pytest

from safepoint.errors import IntegrityError, UsageError
from safepoint.store.backend import crypto
from safepoint.store.backend.encrypted import EncryptedStorage
from safepoint.store.backend.keys import (
    PassphraseError,
    ScryptParams,
    add_key,
    create_key,
    list_keys,
    open_key,
    read_passphrase,
    remove_key,
)
from safepoint.store.backend.s3 import S3Storage, parse_url

FAST = ScryptParams(n=1 << 12)  # the format's parameters are per slot; tests use cheap ones


@pytest.fixture
def bucket(s3_url: str) -> S3Storage:
    return S3Storage(s3_url)


def test_key_opens_with_its_passphrase_only(bucket: S3Storage) -> None:
    key = create_key(bucket, "correct horse", label="ops", params=FAST)
    assert open_key(bucket, "correct horse").master == key.master
    with pytest.raises(PassphraseError) as caught:
        open_key(bucket, "correct hose")
    error = caught.value
    assert error.exit_code == 2 and isinstance(error, UsageError)
    assert str(error) == f"wrong passphrase: no key slot of {bucket.url} opens with it"


@pytest.mark.slow  # 128 MiB of scrypt twice
def test_default_scrypt_parameters_round_trip(bucket: S3Storage) -> None:
    key = create_key(bucket, "pw")
    slot = next(bucket.list("keys/"))
    assert b'"n": 131072' in bucket.get(slot.name)
    assert open_key(bucket, "pw").master == key.master


def test_no_key_slot_is_not_an_encrypted_repository(bucket: S3Storage) -> None:
    with pytest.raises(UsageError, match="holds no key slot"):
        open_key(bucket, "pw")


def test_key_slots_add_list_remove(bucket: S3Storage) -> None:
    key = create_key(bucket, "first", label="laptop", params=FAST)
    second = add_key(bucket, key, "second", label="web1", params=FAST)
    slots = list_keys(bucket)
    assert sorted(s.label for s in slots) == ["laptop", "web1"]
    assert open_key(bucket, "second").master == key.master
    first = next(s.slot for s in slots if s.label == "laptop")
    remove_key(bucket, first)
    with pytest.raises(PassphraseError):
        open_key(bucket, "first")
    assert open_key(bucket, "second").master == key.master
    with pytest.raises(UsageError, match="is the last one"):
        remove_key(bucket, second)
    with pytest.raises(UsageError, match="no key slot nosuch"):
        remove_key(bucket, "nosuch")
    assert [s.slot for s in list_keys(bucket)] == [second]


def test_a_slot_moved_to_another_name_does_not_open(bucket: S3Storage) -> None:
    """The slot's name is bound into its wrapping: a copied slot cannot be passed off as
    another one."""
    create_key(bucket, "pw", params=FAST)
    slot = next(bucket.list("keys/"))
    bucket.put("keys/0123456789abcdef", bucket.get(slot.name))
    bucket.delete(slot.name)
    with pytest.raises(PassphraseError):
        open_key(bucket, "pw")


def test_tampered_ciphertext_is_refused(bucket: S3Storage) -> None:
    key = create_key(bucket, "pw", params=FAST)
    store = EncryptedStorage(bucket, key)
    data = os.urandom(3 * crypto.SEGMENT + 100)
    store.put("packs/ab/p1", data)
    sealed = bytearray(bucket.get("packs/ab/p1"))
    sealed[crypto.segment_offset(1) + 40] ^= 1  # one bit in the second segment
    bucket.put("packs/ab/p1", bytes(sealed))
    with pytest.raises(IntegrityError) as caught:
        store.get("packs/ab/p1")
    assert caught.value.exit_code == 3 and "packs/ab/p1" in str(caught.value)
    with pytest.raises(IntegrityError):
        store.get("packs/ab/p1", crypto.SEGMENT + 5, 10)
    assert store.get("packs/ab/p1", 0, 100) == data[:100]  # an undamaged segment still reads


def test_truncated_renamed_or_plain_objects_are_refused(bucket: S3Storage) -> None:
    store = EncryptedStorage(bucket, create_key(bucket, "pw", params=FAST))
    store.put("packs/ab/long", os.urandom(2 * crypto.SEGMENT + 7))
    sealed = bucket.get("packs/ab/long")
    # Another object's ciphertext under this name: the name is bound into every segment.
    bucket.put("packs/ab/other", sealed)
    with pytest.raises(IntegrityError):
        store.get("packs/ab/other")
    # Cut at a segment boundary: every remaining segment is sound, but none is marked final.
    for segments in (1, 2):
        bucket.put("packs/ab/long", sealed[: crypto.segment_offset(segments)])
        with pytest.raises(IntegrityError):
            store.get("packs/ab/long")
        with pytest.raises(IntegrityError):  # a range that runs past the cut
            store.get("packs/ab/long", 0, 3 * crypto.SEGMENT)
        # A range inside what is left is sound data and reads.
        assert len(store.get("packs/ab/long", 0, crypto.SEGMENT)) == crypto.SEGMENT
    bucket.put("packs/ab/plain", b"SPX1 but not sealed at all, just some plain text")
    with pytest.raises(IntegrityError):
        store.get("packs/ab/plain")
    bucket.put("packs/ab/nomagic", b"plain")
    with pytest.raises(IntegrityError, match="not a sealed object"):
        store.get("packs/ab/nomagic")
    with pytest.raises(IntegrityError):  # the wrong key
        EncryptedStorage(bucket, create_key(bucket, "pw2", params=FAST)).get("packs/ab/long")


def test_bucket_holds_no_plaintext_and_no_plain_hash(s3_url: str) -> None:
    bucket = S3Storage(s3_url)
    key = create_key(bucket, "a passphrase of its own", params=FAST)
    store = EncryptedStorage(bucket, key)
    secret = b"SECRET_KEY = 'django-insecure-5f0b2c7e9a1d4e8b'"
    settings = b"DEBUG = False\n" + secret + b"\nALLOWED_HOSTS = ['*']\n"
    logo = os.urandom(100_000)
    for content in (settings, logo):
        # A content-addressed object is named by the keyed hash, as the repository will do.
        store.put(f"blobs/{store.content_id(content)}", content)
    record = b'{"files": ["settings.py"], "top": "' + hashlib.sha256(settings).hexdigest().encode()
    store.put(f"checkpoints/{store.content_id(record)}", record)
    store.put_if_absent("marks/m1", secret)

    bucket_name, _prefix = parse_url(s3_url)
    client = boto3.client("s3")
    keys, bodies = [], []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket_name):
        for item in page.get("Contents", []):
            keys.append(item["Key"])
            bodies.append(client.get_object(Bucket=bucket_name, Key=item["Key"])["Body"].read())
    assert len(keys) == 5  # one key slot and four objects
    listing = "\n".join(keys).encode()
    everything = listing + b"".join(bodies)
    for content in (settings, logo):
        digest = hashlib.sha256(content)
        assert digest.hexdigest().encode() not in everything
        assert digest.digest() not in everything
    assert b"django-insecure" not in everything
    assert b"a passphrase of its own" not in everything
    assert b"settings.py" not in everything
    assert logo[1000:1100] not in everything
    assert key.master not in everything
    # ... and all of it reads back.
    assert store.get(f"blobs/{store.content_id(settings)}") == settings
    assert store.get("marks/m1") == secret


def test_content_id_is_keyed(tmp_path: Path) -> None:
    from safepoint.store.backend.keys import MasterKey

    one, two = MasterKey(os.urandom(32)), MasterKey(os.urandom(32))
    assert one.content_id(b"x") == one.content_id(b"x") != two.content_id(b"x")
    assert one.content_id(b"x") != hashlib.sha256(b"x").hexdigest()


def test_passphrase_sources(tmp_path: Path) -> None:
    assert read_passphrase({"SAFEPOINT_PASSWORD": "from env"}) == "from env"
    path = tmp_path / "pw"
    path.write_text("from a file\n")
    assert read_passphrase({"SAFEPOINT_PASSWORD_FILE": str(path)}) == "from a file"
    with pytest.raises(PassphraseError, match="cannot read SAFEPOINT_PASSWORD_FILE"):
        read_passphrase({"SAFEPOINT_PASSWORD_FILE": str(tmp_path / "none")})
    with pytest.raises(PassphraseError, match="set SAFEPOINT_PASSWORD") as caught:
        read_passphrase({}, interactive=False)
    assert caught.value.exit_code == 2
    answers = iter(["typed", "typed"])
    assert read_passphrase({}, interactive=True, prompt=lambda _: next(answers)) == "typed"
    answers = iter(["typed", "typo"])
    with pytest.raises(PassphraseError, match="do not match"):
        read_passphrase({}, confirm=True, interactive=True, prompt=lambda _: next(answers))
