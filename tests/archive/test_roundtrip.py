"""Export -> import -> restore keeps a checkpoint exactly; the archive is standard and checkable
with sha256sum and tar alone."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from tests.archive.conftest import Exported, export, repo_state
from tests.helpers import EXCLUDED, assert_one_line_error, snapshot, sp, sp_json


def other_site(tmp_path: Path) -> Path:
    root = tmp_path / "other"
    root.mkdir()
    sp("init", cwd=root, check=True)
    return root


def test_export_import_restore_round_trip(shared_export: Exported, tmp_path: Path) -> None:
    site = shared_export.site
    original = sp_json("show", "v1", cwd=site)
    other = other_site(tmp_path)
    imported = sp_json("import", shared_export.archive, cwd=other)
    assert not imported["existing"] and imported["source"] == "safepoint"
    assert imported["kind"] == "imported" and imported["label"] == "v1"
    assert imported["note"] == "before the upgrade\n"
    assert imported["created"] == original["created"]
    assert imported["checksum_checked"]
    # the same entries, byte for byte: the manifest is the same blob
    assert imported["manifest"] == original["manifest"]
    assert (imported["files"], imported["bytes"]) == (original["files"], original["bytes"])
    target = tmp_path / "restored"
    sp("restore", "v1", "--to", target, cwd=other, check=True)
    assert snapshot(target) == snapshot(site, skip=EXCLUDED)
    with open(os.fsencode(target) + b"/caf\xe9/men\xfc.txt", "rb") as f:
        assert f.read() == b"latin-1 named file\n"
    if os.geteuid() == 0:  # owners are part of the snapshot; check they were not all root
        assert os.stat(target / "eventsite" / "urls.py").st_uid == 1234


def test_archive_is_checkable_with_sha256sum_and_tar(shared_export: Exported) -> None:
    out = shared_export.archive.parent
    check = subprocess.run(
        ["sha256sum", "-c", shared_export.checksum.name], cwd=out, capture_output=True, text=True
    )
    assert check.returncode == 0 and ": OK" in check.stdout, check
    assert (
        shared_export.checksum.read_text()
        == f"{shared_export.doc['sha256']}  {shared_export.archive.name}\n"
    )
    listing = subprocess.run(
        ["tar", "--quoting-style=literal", "-tzf", shared_export.archive],
        capture_output=True,
        check=True,
    ).stdout.splitlines()
    assert b".safepoint-checkpoint/record.json" in listing
    assert b"manage.py" in listing and b"empty_dir/nested_empty/" in listing
    assert b"caf\xe9/men\xfc.txt" in listing
    assert not any(name.startswith((b"venv", b"media", b".safepoint/")) for name in listing)
    record = subprocess.run(
        ["tar", "-xzOf", shared_export.archive, ".safepoint-checkpoint/record.json"],
        capture_output=True,
        check=True,
    ).stdout
    assert hashlib.sha256(record).hexdigest() == shared_export.doc["checkpoint"]
    assert stat.S_IMODE(shared_export.archive.stat().st_mode) == 0o600  # it holds settings.py


@pytest.mark.slow
def test_default_names_come_from_site_label_and_creation_time(site: Path, tmp_path: Path) -> None:
    cp = sp_json("create", "--label", "day2 stable", cwd=site)
    unlabelled = sp_json("create", cwd=site)
    workdir = tmp_path / "work"
    workdir.mkdir()
    doc = sp_json("export", "day2 stable", "--root", site, cwd=workdir)
    stamp = datetime.fromisoformat(cp["created"]).astimezone().strftime("%Y%m%d_%H%M%S")
    assert Path(doc["archive"]) == workdir / f"site_day2-stable_{stamp}.tar.gz"
    assert Path(doc["restore_script"]) == workdir / f"restore_day2-stable_{stamp}.sh"
    assert Path(doc["checksum_file"]) == workdir / f"site_day2-stable_{stamp}.tar.gz.sha256"
    # the same checkpoint in the other format, beside it: its script gets a name of its own
    zst = sp_json("export", "day2 stable", "--format", "tar.zst", "-o", f"{workdir}/", cwd=site)
    assert Path(zst["restore_script"]).name == f"restore_day2-stable_{stamp}-2.sh"
    again = sp_json("export", "day2 stable", "-o", f"{workdir}/", cwd=site)
    assert again["restore_script"] == doc["restore_script"]
    doc = sp_json("export", unlabelled["id"][:8], "-o", workdir / "x.tar.zst", cwd=site)
    assert doc["format"] == "tar.zst" and doc["archive"] == str(workdir / "x.tar.zst")
    stamp = datetime.fromisoformat(unlabelled["created"]).astimezone().strftime("%Y%m%d_%H%M%S")
    assert Path(doc["restore_script"]).name == f"restore_{unlabelled['short_id']}_{stamp}.sh"


def test_zstd_round_trip(shared_export: Exported, tmp_path: Path) -> None:
    zst = export(shared_export.site, "v1", tmp_path / "zst", "--format", "tar.zst")
    assert zst.archive.name.endswith(".tar.zst")
    subprocess.run(["zstd", "-q", "-t", zst.archive], check=True)
    subprocess.run(["sha256sum", "-c", zst.checksum.name], cwd=zst.archive.parent, check=True)
    other = other_site(tmp_path)
    imported = sp_json("import", zst.archive, cwd=other)
    assert imported["manifest"] == sp_json("show", "v1", cwd=shared_export.site)["manifest"]
    target = tmp_path / "restored"
    sp("restore", "v1", "--to", target, cwd=other, check=True)
    assert snapshot(target) == snapshot(shared_export.site, skip=EXCLUDED)


def test_exporting_again_gives_the_same_bytes(shared_export: Exported, tmp_path: Path) -> None:
    again = export(shared_export.site, "v1", tmp_path / "again")
    assert again.doc["sha256"] == shared_export.doc["sha256"]


def test_a_second_import_reports_the_existing_checkpoint(
    shared_export: Exported, tmp_path: Path
) -> None:
    other = other_site(tmp_path)
    first = sp_json("import", shared_export.archive, cwd=other)
    state = repo_state(other)
    second = sp_json("import", shared_export.archive, cwd=other)
    assert second["existing"] and second["id"] == first["id"]
    assert repo_state(other) == state
    assert "already in the repository" in sp("import", shared_export.archive, cwd=other).stdout
    # into the repository it came from: that is the original checkpoint
    back = sp_json("import", shared_export.archive, cwd=shared_export.site)
    assert back["existing"] and back["kind"] == "manual" and back["label"] == "v1"


def test_a_copy_under_another_label_stores_no_data_twice(
    shared_export: Exported, tmp_path: Path
) -> None:
    other = other_site(tmp_path)
    sp("import", shared_export.archive, cwd=other, check=True)
    sp("create", "--label", "v2", cwd=shared_export.site, check=True)
    v2 = export(shared_export.site, "v2", tmp_path / "v2")
    second = sp_json("import", v2.archive, cwd=other)
    assert not second["existing"] and second["label"] == "v2"
    assert second["new_bytes"] < 2_000  # the files are stored already; only the manifest


def test_failed_export_leaves_no_archive(exported: Exported, tmp_path: Path) -> None:
    packs = sorted((exported.site / ".safepoint" / "packs").rglob("*.pack"))
    biggest = max(packs, key=lambda p: p.stat().st_size)
    data = bytearray(biggest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    biggest.write_bytes(bytes(data))
    out = tmp_path / "failed"
    out.mkdir()
    proc = sp("export", "v1", "-o", f"{out}/", cwd=exported.site)
    assert_one_line_error(proc, 3)
    assert "static/big.bin" in proc.stderr
    assert list(out.iterdir()) == []


def test_symlink_leaving_the_site_is_exported_with_a_warning(site: Path, tmp_path: Path) -> None:
    os.symlink("../shared/media", site / "shared_media")
    sp("create", "--label", "v1", cwd=site, check=True)
    out = tmp_path / "out"
    out.mkdir()
    proc = sp("export", "v1", "-o", f"{out}/", cwd=site)
    assert proc.returncode == 0
    assert "shared_media" in proc.stderr and "import" in proc.stderr
