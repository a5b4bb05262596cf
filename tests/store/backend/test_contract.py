"""The storage contract (``store/backend/base.py``), run against every implementation: a local
directory, a real S3 API server (moto on 127.0.0.1), and the encrypting wrapper over each."""

from __future__ import annotations

import hashlib
import os
import threading
import tracemalloc

import pytest

from safepoint.store.backend import crypto
from safepoint.store.backend.base import MissingObjectError, Storage
from safepoint.store.backend.s3 import PART_SIZE


def test_round_trip_and_replace(storage: Storage) -> None:
    storage.put("checkpoints/one", b"first")
    assert storage.get("checkpoints/one") == b"first"
    storage.put("checkpoints/one", b"second, longer")
    assert storage.get("checkpoints/one") == b"second, longer"
    info = storage.stat("checkpoints/one")
    assert info is not None and info.size == len(b"second, longer") and info.name
    storage.put("empty", b"")
    assert storage.get("empty") == b""
    assert storage.stat("empty").size == 0  # type: ignore[union-attr]


def test_missing_object(storage: Storage) -> None:
    assert storage.stat("packs/none") is None
    with pytest.raises(MissingObjectError) as caught:
        storage.get("packs/none")
    assert caught.value.exit_code == 3 and "packs/none" in str(caught.value)


RANGES = [
    (0, None), (0, 1), (1, 10), (65535, 2), (65536, 65536), (65500, 70000), (100, None),
    (199_999, 1), (199_990, 100), (200_000, 5), (250_000, None), (0, 0), (131072, 65536),
]  # fmt: skip


def test_byte_ranges(storage: Storage) -> None:
    data = os.urandom(200_000)  # more than three encryption segments, the last one partial
    storage.put("packs/ab/range", data)
    for offset, length in RANGES:
        end = None if length is None else offset + length
        assert storage.get("packs/ab/range", offset, length) == data[offset:end], (offset, length)


def test_ranges_of_an_exact_multiple_of_the_segment(storage: Storage) -> None:
    data = os.urandom(2 * crypto.SEGMENT)
    storage.put("exact", data)
    assert storage.get("exact") == data
    assert storage.get("exact", crypto.SEGMENT, crypto.SEGMENT) == data[crypto.SEGMENT :]
    assert storage.get("exact", crypto.SEGMENT - 1, 10) == data[crypto.SEGMENT - 1 :][:10]
    assert storage.get("exact", 0, 3 * crypto.SEGMENT) == data
    assert storage.stat("exact").size == len(data)  # type: ignore[union-attr]


def test_put_if_absent(storage: Storage) -> None:
    assert storage.put_if_absent("marks/a", b"mine") is True
    assert storage.put_if_absent("marks/a", b"theirs") is False
    assert storage.get("marks/a") == b"mine"


def test_put_if_absent_race_has_one_winner(storage: Storage) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def attempt(n: int) -> None:
        barrier.wait()
        results.append(storage.put_if_absent("lock", f"writer {n}".encode()))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [False] * 5 + [True]
    assert storage.get("lock").startswith(b"writer ")


def test_put_if_match(storage: Storage) -> None:
    assert storage.put_if_match("lock", b"x", '"abc"') is None  # absent
    assert storage.stat("lock") is None
    storage.put("lock", b"v1")
    tag1 = storage.stat("lock").tag  # type: ignore[union-attr]
    tag2 = storage.put_if_match("lock", b"v2", tag1)
    assert tag2 is not None and storage.get("lock") == b"v2"
    assert storage.put_if_match("lock", b"v3", tag1) is None  # an old version: refused
    assert storage.get("lock") == b"v2"
    assert storage.put_if_match("lock", b"v3", tag2) is not None
    assert storage.get("lock") == b"v3"


def test_delete(storage: Storage) -> None:
    storage.put("packs/ab/gone", b"data")
    storage.delete("packs/ab/gone")
    assert storage.stat("packs/ab/gone") is None
    storage.delete("packs/ab/gone")  # again: not an error
    assert [i.name for i in storage.list("packs/")] == []


def test_list_with_prefix(storage: Storage) -> None:
    objects = {
        "packs/ab/one": b"1",
        "packs/ab/two": b"22",
        "packs/ac/three": b"333",
        "checkpoints/c1": b"record",
        "lock": b"held",
    }
    for name, data in objects.items():
        storage.put(name, data)
    assert [(i.name, i.size) for i in storage.list("packs/")] == [
        ("packs/ab/one", 1), ("packs/ab/two", 2), ("packs/ac/three", 3),
    ]  # fmt: skip
    assert [i.name for i in storage.list("packs/ab/")] == ["packs/ab/one", "packs/ab/two"]
    assert [i.name for i in storage.list("packs/a")] == [
        "packs/ab/one", "packs/ab/two", "packs/ac/three",
    ]  # fmt: skip
    assert [i.name for i in storage.list("packs/ab/t")] == ["packs/ab/two"]
    assert [i.name for i in storage.list("")] == sorted(objects)
    assert list(storage.list("nothing/")) == []
    assert all(i.tag for i in storage.list(""))


@pytest.mark.parametrize("name", ["../escape", "/abs", "a//b", ".hidden", "a/./b", "", "a/"])
def test_bad_names_refused(storage: Storage, name: str) -> None:
    with pytest.raises(ValueError):
        storage.put(name, b"x")
    with pytest.raises(ValueError):
        storage.get(name)


class _Generated:
    """A stream of ``size`` pseudo-random bytes made as it is read (each piece one copy of a
    random block, rotated), so that the test itself holds none of the object."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = os.urandom(1 << 20)
        self.turn = 0
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        rotated = self.block[self.turn :] + self.block[: self.turn]
        self.turn = (self.turn + 7919) % len(self.block)
        whole, rest = divmod(n, len(rotated))
        piece = b"".join([rotated] * whole + [rotated[:rest]])
        self.left -= len(piece)
        self.sha.update(piece)
        return piece


@pytest.mark.slow
def test_large_streamed_object_in_bounded_memory(storage: Storage) -> None:
    size = 8 * PART_SIZE + 12345  # nine parts of a multipart upload on S3
    source = _Generated(size)
    tracemalloc.start()
    try:
        storage.put("packs/ab/large", source)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert source.left == 0
    # A few copies of one part (the part, botocore's signing, the sealing buffer), never the
    # object: 6 parts' worth is far below its 8 parts.
    assert peak < 6 * PART_SIZE, f"peak {peak} bytes for a {size}-byte object"
    assert storage.stat("packs/ab/large").size == size  # type: ignore[union-attr]
    sha, offset = hashlib.sha256(), 0
    while offset < size:
        piece = storage.get("packs/ab/large", offset, PART_SIZE)
        assert piece
        sha.update(piece)
        offset += len(piece)
    assert offset == size and sha.hexdigest() == source.sha.hexdigest()
