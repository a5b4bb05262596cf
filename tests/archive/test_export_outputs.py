"""Where export writes its three files and what it leaves when it fails: outside the site by
default (the next checkpoint would take in an archive written in the root), ``-o DIR/`` for a
folder, a tracked destination inside the root refused, and nothing under a final name (no
orphan ``.sha256`` or script) after a failure; a killed export's temporaries are swept."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

import safepoint
from safepoint.store.records import save_record
from tests.helpers import assert_one_line_error, snapshot, sp, sp_json

CACHE = (".safepoint/catalogue",)  # the records' catalogue: a cache any command may write

def names(site: Path, label: str) -> tuple[str, str, str]:
    """The default archive, checksum and script names of checkpoint ``label``."""
    created = sp_json("show", label, cwd=site)["created"]
    stamp = datetime.fromisoformat(created).astimezone().strftime("%Y%m%d_%H%M%S")
    archive = f"{site.name}_{label}_{stamp}.tar.gz"
    return archive, f"{archive}.sha256", f"restore_{label}_{stamp}.sh"


def test_export_from_inside_the_site_writes_beside_it(site: Path, tmp_path: Path) -> None:
    sp("create", "--label", "v1", cwd=site, check=True)
    before = snapshot(site, skip=CACHE)
    doc = sp_json("export", "v1", cwd=site / "eventsite")  # from a folder of the site
    archive, sums, script = names(site, "v1")
    assert Path(doc["archive"]) == tmp_path / archive
    assert Path(doc["checksum_file"]) == tmp_path / sums
    assert Path(doc["restore_script"]) == tmp_path / script
    assert snapshot(site, skip=CACHE) == before  # nothing the next checkpoint would take in
    assert sp_json("status", cwd=site)["clean"]
    subprocess.run(["sha256sum", "-c", sums], cwd=tmp_path, check=True, capture_output=True)
    # from outside the site, the working directory
    work = tmp_path / "work"
    work.mkdir()
    doc = sp_json("export", "v1", "--root", site, cwd=work)
    assert Path(doc["archive"]) == work / archive


@pytest.mark.slow
def test_output_folder_with_a_slash_is_created_and_holds_all_three(
    site: Path, tmp_path: Path
) -> None:
    sp("create", "--label", "v1", cwd=site, check=True)
    archive, sums, script = names(site, "v1")
    out = tmp_path / "backups" / "site"
    doc = sp_json("export", "v1", "-o", f"{out}/", cwd=site)
    assert sorted(p.name for p in out.iterdir()) == sorted([archive, sums, script])
    assert Path(doc["archive"]) == out / archive
    # an existing folder needs no slash
    other = tmp_path / "other"
    other.mkdir()
    doc = sp_json("export", "v1", "-o", other, cwd=site)
    assert Path(doc["restore_script"]) == other / script
    # a path without the slash that is not a folder is the archive's own name
    doc = sp_json("export", "v1", "-o", tmp_path / "mine.tgz", cwd=site)
    assert Path(doc["archive"]) == tmp_path / "mine.tgz"


@pytest.mark.slow  # many exports: ~5 s
def test_a_destination_inside_the_site_is_refused_unless_excluded(
    site: Path, tmp_path: Path
) -> None:
    sp("create", "--label", "v1", cwd=site, check=True)
    before = snapshot(site, skip=CACHE)
    for output in ("backup.tar.gz", "eventsite/", f"{site}/static/v1.tar.gz", "."):
        proc = sp("export", "v1", "-o", output, cwd=site)
        assert_one_line_error(proc, 2)
        assert "inside the site root" in proc.stderr and "-o DIR/" in proc.stderr
    assert snapshot(site, skip=CACHE) == before
    # media/ is excluded by default: the next checkpoint leaves it out
    doc = sp_json("export", "v1", "-o", "media/", cwd=site)
    assert Path(doc["archive"]).parent == site / "media"
    assert (
        sp_json("create", "--label", "v2", cwd=site)["files"]
        == sp_json("show", "v1", cwd=site)["files"]
    )


def test_a_failed_export_leaves_nothing_under_a_final_name(site: Path, tmp_path: Path) -> None:
    sp("create", "--label", "v1", cwd=site, check=True)
    archive, _, _ = names(site, "v1")
    out = tmp_path / "out"
    (out / archive).mkdir(parents=True)  # the archive cannot be renamed into place
    proc = sp("export", "v1", "-o", f"{out}/", cwd=site)
    assert_one_line_error(proc, 1)
    assert sorted(p.name for p in out.iterdir()) == [archive]  # no orphan .sha256 or script


def test_a_killed_exports_leftovers_are_swept(site: Path, tmp_path: Path) -> None:
    sp("create", "--label", "v1", cwd=site, check=True)
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True).stdout.strip()
    leftovers = [out / f".{name}.partial-{dead}" for name in names(site, "v1")]
    for path in leftovers:
        path.write_bytes(b"half an archive")
    unrelated = out / f".other.tar.gz.partial-{dead}"
    unrelated.write_bytes(b"not this export's")
    sp("export", "v1", "-o", f"{out}/", cwd=site, check=True)
    assert not any(p.exists() for p in leftovers)
    assert unrelated.exists()
    assert sorted(p.name for p in out.iterdir()) == sorted([*names(site, "v1"), unrelated.name])


@pytest.mark.parametrize("created", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59"])
def test_a_checkpoint_with_an_extreme_date_still_exports(
    site: Path, tmp_path: Path, created: str
) -> None:
    """Such records came in through imports before dates were checked: export must not crash
    on them forever (OverflowError in the file name, struct.error in the gzip header)."""
    sp("create", "--label", "v1", cwd=site, check=True)
    with safepoint.open_site(site) as s:
        (cp,) = s.repository.checkpoints()
        odd = save_record(s.repository.records_dir, replace(cp, label="odd", created=created))
    out = tmp_path / "out"
    doc = sp_json("export", odd.id, "-o", f"{out}/", cwd=site)
    archive = Path(doc["archive"])
    assert archive.name.startswith(f"site_odd_{created[:4]}-")
    subprocess.run(["sha256sum", "-c", f"{archive.name}.sha256"], cwd=out, check=True)
    subprocess.run(["tar", "-tzf", archive], check=True, capture_output=True)
