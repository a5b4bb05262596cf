"""check names each problem (exit 3) and only warns about extra data; repair index rebuilds a
deleted index; repair heals lost blobs from the site or another pack and marks what stays lost
damaged, which restore then refuses with the reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from safepoint.store.pack import FILE_HEADER, RECORD_SIZE, scan_pack
from tests.helpers import EXCLUDED, snapshot, sp, sp_json, write


def packs(repo: Path) -> list[Path]:
    return sorted(repo.glob("packs/*/*.pack"), key=lambda p: p.stat().st_mtime_ns)


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_check_names_problems_and_warns_about_extra_data(site: Path) -> None:
    repo = site / ".safepoint"
    sp("create", "--label", "one", cwd=site, check=True)
    clean = sp_json("check", "--read-data", cwd=site)
    assert clean["ok"] and clean["warnings"] == [] and clean["read_blobs"] == clean["blobs"]

    # A copy of a pack under a name the index does not know: extra data, exit 0.
    pack = packs(repo)[0]
    stray = pack.parent / ("0" * 32 + ".pack")
    shutil.copy(pack, stray)
    extra = sp("check", cwd=site)
    assert extra.returncode == 0 and "the index does not know" in extra.stdout
    stray.unlink()

    # Damaged data behind a sound header: structure passes, a data read names the blob.
    records = list(scan_pack(pack))
    biggest = max(records, key=lambda loc: loc.stored_size)
    flip(pack, biggest.offset + RECORD_SIZE + biggest.stored_size // 2)
    assert sp("check", cwd=site).returncode == 0
    subset = sp("check", "--read-data-subset", "100%", cwd=site)
    assert subset.returncode == 3 and f"blob {biggest.blob_id.hex()}" in subset.stdout
    read = sp("check", "--read-data", cwd=site)
    assert read.returncode == 3 and f"PROBLEM blob {biggest.blob_id.hex()}" in read.stdout
    assert "problem(s) found" in read.stderr and "Traceback" not in read.stderr

    # A damaged record header is a structure problem.
    first = min(records, key=lambda loc: loc.offset)
    assert first.offset == len(FILE_HEADER)
    flip(pack, first.offset + 1)
    broken = sp("check", cwd=site)
    assert broken.returncode == 3
    assert f"damaged record header for blob {first.blob_id.hex()}" in broken.stdout


@pytest.mark.slow
def test_repair_index_after_the_index_was_deleted(site: Path, tmp_path: Path) -> None:
    repo = site / ".safepoint"
    sp("create", "--label", "one", cwd=site, check=True)
    expected = snapshot(site, skip=EXCLUDED)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{repo / 'index.sqlite'}{suffix}").unlink(missing_ok=True)
    lost = sp("check", cwd=site)
    assert lost.returncode == 3 and "is missing from the repository" in lost.stdout
    assert "safepoint repair index" in lost.stdout
    sp("repair", "index", cwd=site, check=True)
    assert sp_json("check", "--read-data", cwd=site)["ok"]
    sp("restore", "one", "--to", tmp_path / "out", cwd=site, check=True)
    assert snapshot(tmp_path / "out") == expected


@pytest.mark.slow
def test_repair_after_a_pack_was_deleted_heals_from_the_site(site: Path, tmp_path: Path) -> None:
    """'one' and 'two' share every file but one; deleting the pack 'one' wrote loses the
    files' blobs (still in the site: healed) and the manifest of 'one' (nowhere else: 'one'
    is marked damaged, stays listed, and restore refuses it saying why)."""
    repo = site / ".safepoint"
    one = sp_json("create", "--label", "one", cwd=site)["id"]
    write(site / "eventsite" / "urls.py", "urlpatterns = ['two']\n")
    sp("create", "--label", "two", cwd=site, check=True)
    expected = snapshot(site, skip=EXCLUDED)
    packs(repo)[0].unlink()
    assert sp("check", cwd=site).returncode == 3

    repaired = sp("repair", "--json", cwd=site)
    assert repaired.returncode == 3, repaired.stderr
    assert "marked damaged" in repaired.stderr
    doc = json.loads(repaired.stdout)
    assert "the site: static/big.bin" in doc["healed"].values()
    assert list(doc["damaged"]) == [one] and "(manifest)" in doc["damaged"][one]
    sp("restore", "two", "--to", tmp_path / "two", cwd=site, check=True)
    assert snapshot(tmp_path / "two") == expected

    refused = sp("restore", "one", "--to", tmp_path / "one", cwd=site)
    assert refused.returncode == 3 and "is damaged and cannot be restored" in refused.stderr
    assert "(manifest)" in refused.stderr and not (tmp_path / "one").exists()
    listed = sp("list", cwd=site, check=True).stdout
    assert "one" in listed and "DAMAGED" in listed
    checked = sp("check", "--read-data", cwd=site)
    assert checked.returncode == 0 and "marked damaged" in checked.stdout
    # gc still runs: what is left of the damaged checkpoint is kept.
    assert sp("gc", cwd=site).returncode == 0


@pytest.mark.slow
def test_repair_heals_a_damaged_blob_from_another_pack(site: Path, tmp_path: Path) -> None:
    repo = site / ".safepoint"
    sp("create", "--label", "one", cwd=site, check=True)
    expected = snapshot(site, skip=EXCLUDED)
    pack = packs(repo)[0]
    copy = repo / "packs" / "ff" / ("f" * 32 + ".pack")  # a second copy of every blob
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(pack, copy)
    (site / "static" / "big.bin").unlink()  # the site no longer holds it
    big = max(scan_pack(pack), key=lambda loc: loc.stored_size)
    flip(pack, big.offset + RECORD_SIZE + 100)
    assert sp("verify", cwd=site).returncode == 3

    repaired = sp_json("repair", cwd=site)
    assert repaired["ok"] and repaired["healed"] == {big.blob_id.hex(): f"pack {'f' * 32}"}
    assert sp("verify", cwd=site).returncode == 0
    sp("restore", "one", "--to", tmp_path / "out", cwd=site, check=True)
    assert snapshot(tmp_path / "out") == expected
