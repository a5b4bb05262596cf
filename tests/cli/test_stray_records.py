"""One damaged or stray file in checkpoints/ (bad JSON, a hash mismatch, ``x.json``, a zero-byte
file) made list, verify, status, restore, rollback and recover all exit 3. Now each names the
file in one warning line and skips it; every other checkpoint stays usable, recover above all;
``verify`` still reports the file as damaged (exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import EXCLUDED, snapshot, sp, sp_json, write


def _bad_files(site: Path) -> list[Path]:
    records = site / ".safepoint" / "checkpoints"
    lost = sp_json("create", "--label", "lost", cwd=site)["id"]
    damaged = records / f"{lost}.json"
    damaged.write_text(damaged.read_text().replace('"lost"', '"LOST"'))  # hash mismatch
    bad = [
        damaged,
        write(records / "x.json", "{}"),
        write(records / f"{'0' * 64}.json", b""),  # zero bytes
        write(records / f"{'f' * 64}.json", "{not json"),
    ]
    write(records / "notes.txt", "someone's notes")  # not a record: not even a warning
    return bad


def _warned(stderr: str, bad: list[Path]) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == len(bad), stderr
    for path in bad:
        assert sum(str(path) in line for line in lines) == 1, (path, stderr)
    assert all(line.startswith("safepoint: warning: skipped ") for line in lines)
    assert "Traceback" not in stderr and "notes.txt" not in stderr


@pytest.mark.slow
def test_bad_files_are_named_and_skipped(site: Path, tmp_path: Path) -> None:
    one = sp_json("create", "--label", "one", cwd=site)["id"]
    at_one = snapshot(site, skip=EXCLUDED)
    write(site / "eventsite" / "urls.py", "urlpatterns = ['two']\n")
    two = sp_json("create", "--label", "two", cwd=site)["id"]
    bad = _bad_files(site)

    proc = sp("list", cwd=site)
    assert proc.returncode == 0
    assert one[:12] in proc.stdout and two[:12] in proc.stdout
    _warned(proc.stderr, bad)
    proc = sp("list", "--json", cwd=site)
    assert {cp["id"] for cp in json.loads(proc.stdout)} >= {one, two}

    proc = sp("status", cwd=site)
    assert proc.returncode == 0, proc.stderr
    _warned(proc.stderr, bad)
    proc = sp("restore", "one", "--to", tmp_path / "one", cwd=site)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(tmp_path / "one") == at_one

    proc = sp("verify", cwd=site)
    assert proc.returncode == 3
    for path in bad:
        assert f"DAMAGED record {path}" in proc.stdout
    assert sp_json("show", "two", cwd=site)["id"] == two

    proc = sp("rollback", "one", "--yes", cwd=site)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(site, skip=EXCLUDED) == at_one


def test_recover_works_with_bad_files_beside_the_records(site: Path) -> None:
    one = sp_json("create", "--label", "one", cwd=site)["id"]
    at_one = snapshot(site, skip=EXCLUDED)
    write(site / "eventsite" / "urls.py", "urlpatterns = ['two']\n")
    write(site / "added.txt", "added\n")
    two = sp_json("create", "--label", "two", cwd=site)["id"]
    _bad_files(site)
    # A rollback to "one" interrupted right after it wrote its journal (its safety: "two").
    journal = {
        "version": 1,
        "target": one,
        "safety": two,
        "nonce": "1a2b3c4d",
        "started": "2026-01-01T00:00:00+00:00",
        "purpose": "rollback",
    }
    write(site / ".safepoint" / "journal.json", json.dumps(journal))
    proc = sp("recover", cwd=site)
    assert proc.returncode == 0, proc.stderr
    assert "finished the interrupted rollback" in proc.stdout
    assert snapshot(site, skip=EXCLUDED) == at_one
    assert not (site / ".safepoint" / "journal.json").exists()
