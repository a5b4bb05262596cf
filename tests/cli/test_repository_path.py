"""``[repository] path`` naming a folder that is not a repository (``..``, the root, any
non-empty folder) is refused; it used to be chmodded 0700 and filled with packs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, make_site, snapshot, sp, write


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _site_with_repository(tmp_path: Path, repo: str) -> Path:
    root = make_site(tmp_path / "parent" / "site")
    write(root / "safepoint.toml", f'[repository]\npath = "{repo}"\n')
    return root


@pytest.mark.parametrize("repo", ["..", ".", "../..", "./", "../site/.."])
def test_root_or_a_parent_of_it_is_refused_and_untouched(tmp_path: Path, repo: str) -> None:
    root = _site_with_repository(tmp_path, repo)
    os.chmod(tmp_path / "parent", 0o755)
    os.chmod(root, 0o755)
    before = snapshot(tmp_path)
    for command in (["init"], ["create"], ["list"]):
        proc = sp(*command, cwd=root)
        assert_one_line_error(proc, 2)
        assert "[repository] path: the repository cannot be" in proc.stderr
    assert snapshot(tmp_path) == before
    assert _mode(tmp_path / "parent") == 0o755 and _mode(root) == 0o755


def test_an_existing_folder_with_other_files_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "data"
    write(other / "keep.txt", "mine")
    os.chmod(other, 0o755)
    root = _site_with_repository(tmp_path, str(other))
    before = snapshot(other)
    proc = sp("init", cwd=root)
    assert_one_line_error(proc, 2)
    assert str(other) in proc.stderr and "nor a safepoint repository" in proc.stderr
    assert snapshot(other) == before and _mode(other) == 0o755
    proc = sp("create", cwd=root)
    assert_one_line_error(proc, 2)
    assert snapshot(other) == before


@pytest.mark.parametrize("state", ["absent", "empty", "interrupted init"])
def test_a_new_empty_or_half_made_folder_becomes_the_repository(tmp_path: Path, state: str) -> None:
    repo = tmp_path / "backups" / "site"
    if state != "absent":
        repo.mkdir(parents=True)
    if state == "interrupted init":
        (repo / "packs").mkdir()
        (repo / "checkpoints").mkdir()
    root = _site_with_repository(tmp_path, str(repo))
    sp("init", cwd=root, check=True)
    assert (repo / "format.json").is_file() and _mode(repo) == 0o700
    sp("create", cwd=root, check=True)
