"""Damaged data is detected by verify and never written by restore."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import assert_one_line_error, sp, sp_json


def _flip_byte_in_biggest_pack(repo: Path) -> None:
    pack = max((repo / "packs").glob("*/*.pack"), key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))


def test_flipped_byte_makes_verify_exit_3_naming_checkpoint_and_path(site: Path) -> None:
    sp("create", "--label", "v1", cwd=site, check=True)
    assert sp("verify", cwd=site).returncode == 0
    _flip_byte_in_biggest_pack(site / ".safepoint")
    proc = sp("verify", cwd=site)
    assert proc.returncode == 3, proc.stderr
    assert "DAMAGED" in proc.stdout and "(v1)" in proc.stdout
    assert "static/big.bin" in proc.stdout  # the 3 MiB file fills most of the pack
    report = sp("verify", "--json", cwd=site)
    assert report.returncode == 3


def test_restore_refuses_damaged_content_and_leaves_no_files(site: Path, tmp_path: Path) -> None:
    sp("create", cwd=site, check=True)
    _flip_byte_in_biggest_pack(site / ".safepoint")
    target = tmp_path / "out"
    proc = sp("restore", "latest", "--to", target, cwd=site)
    assert_one_line_error(proc, 3)
    assert "damaged" in proc.stderr
    assert not target.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert sp("restore", "latest", "--to", empty, cwd=site).returncode == 3
    assert list(empty.iterdir()) == []


def test_missing_pack_is_an_integrity_failure(site: Path) -> None:
    sp("create", cwd=site, check=True)
    for pack in (site / ".safepoint" / "packs").glob("*/*.pack"):
        pack.unlink()
    proc = sp("verify", cwd=site)
    assert proc.returncode == 3


def test_damaged_record_is_reported(site: Path) -> None:
    cid = sp_json("create", cwd=site)["id"]
    record = site / ".safepoint" / "checkpoints" / f"{cid}.json"
    record.write_text(record.read_text().replace('"manual"', '"manuel"'))
    proc = sp("list", cwd=site)  # named and skipped: other checkpoints stay usable
    assert proc.returncode == 0 and f"skipped {record}" in proc.stderr
    assert "DAMAGED record" in sp("verify", cwd=site).stdout
