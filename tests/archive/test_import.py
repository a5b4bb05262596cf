"""Importing archives that were not made by safepoint: a plain ``tar czf`` of the site, in
either layout, and small hand-built archives."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.archive.conftest import make_tar, member, repo_state
from tests.helpers import EXCLUDED, snapshot, sp, sp_json


def without_times(snap: dict[bytes, tuple[Any, ...]]) -> dict[bytes, tuple[Any, ...]]:
    """GNU tar's default format keeps whole seconds: compare all but file and link times."""
    out = {}
    for path, value in snap.items():
        if value[0] == "f":
            value = value[:5] + value[6:]
        elif value[0] == "l":
            value = value[:4]
        out[path] = value
    return out


@pytest.mark.parametrize("layout", ["dot", "folder"])
def test_plain_tar_of_the_site(site: Path, tmp_path: Path, layout: str) -> None:
    # what real sites hold in excluded places: links out of the site, a fifo
    (site / "venv" / "bin").mkdir()
    os.symlink("/usr/bin/python3", site / "venv" / "bin" / "python")
    os.mkfifo(site / "logs" / "pipe")
    archive = tmp_path / "eventsite_backup_20240101.tgz"
    if layout == "dot":  # tar czf x.tgz -C site .   (names start with ./)
        cmd = ["tar", "czf", archive, "-C", site, "."]
    else:  # tar czf x.tgz site/   (one top folder)
        cmd = ["tar", "czf", archive, "site/"]
    subprocess.run(cmd, cwd=tmp_path, check=True)
    doc = sp_json("import", archive, cwd=site)
    assert doc["kind"] == "imported" and doc["label"] == "eventsite_backup_20240101"
    assert doc["source"] == "tar" and not doc["checksum_checked"]
    assert doc["stripped"] == (None if layout == "dot" else "site")
    # the site's rules apply: what create would have taken, and the repository itself is not
    assert {".safepoint", "safepoint.toml", "venv", "db.sqlite3", "media"} <= set(doc["skipped"])
    assert "tools/env2" in doc["skipped"]  # a virtual environment, found by its pyvenv.cfg
    target = tmp_path / "restored"
    sp("restore", doc["id"], "--to", target, cwd=site, check=True)
    assert without_times(snapshot(target)) == without_times(snapshot(site, skip=EXCLUDED))
    # the same file again: reported, not stored again
    state = repo_state(site)
    again = sp_json("import", archive, cwd=site)
    assert again["existing"] and again["id"] == doc["id"]
    assert repo_state(site) == state


def test_plain_archive_with_a_checksum_beside_it(site: Path, tmp_path: Path) -> None:
    archive = tmp_path / "handmade.tar.gz"
    subprocess.run(["tar", "czf", archive, "-C", site, "eventsite", "run.sh"], check=True)
    sums = subprocess.run(
        ["sha256sum", archive.name], cwd=tmp_path, capture_output=True, check=True
    ).stdout
    (tmp_path / "handmade.tar.gz.sha256").write_bytes(sums)
    doc = sp_json("import", archive, cwd=site)
    assert doc["checksum_checked"] and doc["label"] == "handmade"
    files = {e["path"] for e in sp_json("show", doc["id"], "--files", cwd=site)["entries"]}
    assert files == {"eventsite", "eventsite/settings.py", "eventsite/urls.py", "run.sh"}


def test_hard_links_become_copies_and_missing_folders_are_added(site: Path, tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "links.tar.gz",
        [
            member("app/deep/one.txt", b"shared content\n"),
            member("app/two.txt", None, type=tarfile.LNKTYPE, linkname="app/deep/one.txt"),
            member("README", b"two top-level names: no folder is stripped\n"),
        ],
    )
    doc = sp_json("import", archive, cwd=site)
    target = tmp_path / "restored"
    sp("restore", doc["id"], "--to", target, cwd=site, check=True)
    assert (target / "app" / "two.txt").read_bytes() == b"shared content\n"
    assert (target / "app" / "deep" / "one.txt").read_bytes() == b"shared content\n"
    assert os.stat(target / "app" / "deep").st_mode & 0o777 == 0o755


def test_uncompressed_and_xz_archives(site: Path, tmp_path: Path) -> None:
    for name, mode in (("plain.tar", "w"), ("small.tar.xz", "w:xz")):
        archive = make_tar(tmp_path / name, [member("readme.txt", b"hello\n")], mode=mode)
        doc = sp_json("import", archive, cwd=site)
        assert doc["files"] == 1 and doc["label"] == name.split(".")[0]
