"""The catalogue is a cache: whatever happened to checkpoints/ and marks/ (records added or
moved away, marks changed within the same clock tick, a damaged or foreign catalogue), a listing
through it equals reading every record and marks file directly."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from safepoint.store.catalogue import REWRITE_AFTER
from safepoint.store.records import Checkpoint, Marks, load_record, save_marks
from safepoint.store.repository import Repository


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository.init(tmp_path / "repo")


def add(repo: Repository, n: int, start: int = 0) -> list[Checkpoint]:
    base = Checkpoint(
        id="",
        created="",
        kind="manual",
        manifest="ab" * 32,
        files=1,
        bytes=2,
        new_bytes=3,
        host="h",
        extra={"rules": "x"},
    )
    return [
        repo.save_checkpoint(
            replace(base, created=f"2026-01-01T00:00:{i:02}.000000+00:00", label=f"c{i}")
        )
        for i in range(start, start + n)
    ]


def truth(repo: Repository) -> list[Checkpoint]:
    cps = [load_record(p, repo.marks_dir) for p in repo.records_dir.glob("*.json")]
    return sorted(cps, key=lambda c: c.created, reverse=True)


def age_marks(repo: Repository, back: float = 60) -> None:
    st = os.stat(repo.marks_dir)
    os.utime(repo.marks_dir, ns=(st.st_atime_ns, st.st_mtime_ns - int(back * 1e9)))


def test_listing_follows_every_change(repo: Repository) -> None:
    cps = add(repo, 30)
    age_marks(repo)
    assert repo.checkpoints() == truth(repo)
    assert repo.catalogue_path.exists()
    add(repo, 3, start=30)  # few: read from their files, catalogue kept
    written = repo.catalogue_path.stat().st_mtime_ns
    assert repo.checkpoints() == truth(repo)
    assert repo.catalogue_path.stat().st_mtime_ns == written
    add(repo, REWRITE_AFTER + 1, start=33)  # many: rewritten
    assert repo.checkpoints() == truth(repo)
    repo.forget(cps[4])
    repo.forget(cps[7])
    assert repo.checkpoints() == truth(repo)
    assert [c.id for c in repo.checkpoints(forgotten=True)] == [cps[7].id, cps[4].id]
    repo.undelete(cps[4])
    assert repo.checkpoints() == truth(repo)
    save_marks(repo.marks_dir, cps[2].id, Marks(health="good", pinned=True))
    age_marks(repo)
    listed = repo.checkpoints()
    assert listed == truth(repo)
    assert next(c for c in listed if c.id == cps[2].id).marks.pinned


def test_a_mark_changed_within_the_same_clock_tick_is_seen(repo: Repository) -> None:
    cps = add(repo, 3)
    save_marks(repo.marks_dir, cps[0].id, Marks(health="good"))
    st = os.stat(repo.marks_dir)
    assert repo.checkpoints() == truth(repo)  # the marks directory's stamp is too fresh to keep
    save_marks(repo.marks_dir, cps[0].id, Marks(health="bad"))
    os.utime(repo.marks_dir, ns=(st.st_atime_ns, st.st_mtime_ns))  # as if in the same tick
    listed = repo.checkpoints()
    assert listed == truth(repo)
    assert listed[-1].marks.health == "bad"


@pytest.mark.parametrize("damage", [b"", b"SPCAT1\n", b"garbage" * 100, "flip"])
def test_a_damaged_catalogue_is_rebuilt(repo: Repository, damage: bytes | str) -> None:
    add(repo, 5)
    age_marks(repo)
    repo.checkpoints()
    data = repo.catalogue_path.read_bytes()
    if damage == "flip":
        data = data[:-10] + bytes([data[-10] ^ 1]) + data[-9:]
    else:
        assert isinstance(damage, bytes)
        data = damage
    repo.catalogue_path.write_bytes(data)
    assert Repository.open(repo.path).checkpoints() == truth(repo)


def test_damaged_records_stay_reported_through_the_catalogue(repo: Repository) -> None:
    add(repo, 3)
    stray = repo.records_dir / ("0" * 64 + ".json")
    stray.write_text("{}")
    age_marks(repo)
    for _ in range(2):  # built, then from the cache
        fresh = Repository.open(repo.path)
        assert len(fresh.checkpoints()) == 3
        assert list(fresh.skipped_records) == [stray]


def test_lazy_listing_resolves_without_building_everything(repo: Repository) -> None:
    cps = add(repo, 40)
    age_marks(repo)
    repo.checkpoints()
    listed = repo.listed()
    assert listed[0] == truth(repo)[0] == cps[-1]
    assert sum(1 for b in listed._built if b is not None) == 1  # type: ignore[attr-defined]
    assert list(listed) == truth(repo)


def test_the_catalogue_is_private_like_the_records(repo: Repository) -> None:
    add(repo, 2)
    old = os.umask(0o022)
    try:
        repo.checkpoints()
    finally:
        os.umask(old)
    assert repo.catalogue_path.stat().st_mode & 0o777 == 0o600


def test_saving_a_forgotten_record_again_undeletes_it(repo: Repository) -> None:
    cps = add(repo, 2)
    repo.forget(cps[0])
    again = repo.save_checkpoint(replace(cps[0], id=""))  # e.g. import of the same archive
    assert again.id == cps[0].id
    assert repo.checkpoints(forgotten=True) == []
    assert [c.id for c in repo.checkpoints()] == [cps[1].id, cps[0].id]
