"""What a rollback leaves alone although the target checkpoint says otherwise: a repository
reached through a link, a folder that became a virtual environment, an excluded path that is a
link to another volume."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import assert_one_line_error, sp, sp_json, write


def small_site(root: Path) -> Path:
    write(root / "manage.py", "print('manage')\n")
    write(root / "app" / "views.py", "def index(): return 'ok'\n")
    sp("init", cwd=root, check=True)
    return root


def test_a_repository_reached_through_a_link_survives_a_rollback(tmp_path: Path) -> None:
    """The repository moved to another disk, a link left in its place, config unchanged."""
    root = small_site(tmp_path / "site")
    sp("create", "--label", "before-the-move", cwd=root, check=True)
    disk = tmp_path / "disk"
    disk.mkdir()
    shutil.move(root / ".safepoint", disk / "sp")
    os.symlink(disk / "sp", root / ".safepoint")
    os.symlink(".safepoint", root / "backups")  # another link to it, by another name
    write(root / "app" / "views.py", "def index(): return 'changed'\n")
    proc = sp("create", "--label", "after-the-move", cwd=root, check=True)
    files = {e["path"] for e in sp_json("show", "latest", "--files", cwd=root)["entries"]}
    assert ".safepoint" not in files and "backups" not in files, proc.stdout

    sp("rollback", "before-the-move", "--yes", cwd=root, check=True)
    assert os.readlink(root / ".safepoint") == os.fspath(disk / "sp")
    assert os.readlink(root / "backups") == ".safepoint"
    assert (root / "app" / "views.py").read_text() == "def index(): return 'ok'\n"
    labels = [c["label"] for c in sp_json("list", cwd=root)]
    assert "before-the-move" in labels and "after-the-move" in labels
    sp("rollback", "after-the-move", "--yes", cwd=root, check=True)
    assert os.path.islink(root / ".safepoint")


def test_a_missing_repository_that_the_config_names_is_not_a_reason_to_init(
    tmp_path: Path,
) -> None:
    root = small_site(tmp_path / "site")
    sp("create", cwd=root, check=True)
    shutil.move(root / ".safepoint", tmp_path / "elsewhere")  # an unmounted disk, say
    proc = sp("list", cwd=root)
    assert_one_line_error(proc, 2)
    assert "missing" in proc.stderr and str(root / ".safepoint") in proc.stderr
    assert "init" not in proc.stderr


def test_a_folder_that_became_a_virtual_environment_is_not_written_into(tmp_path: Path) -> None:
    root = small_site(tmp_path / "site")
    write(root / "tools" / "bin" / "activate", "# our own helper script\n", mode=0o755)
    write(root / "tools" / "setup.py", "# tracked\n")
    sp("create", "--label", "tools-tracked", cwd=root, check=True)
    # Later the folder became a virtual environment (its activate replaced by venv's).
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", root / "tools"], check=True, timeout=120
    )
    (root / "tools" / "setup.py").unlink()
    activate = (root / "tools" / "bin" / "activate").read_bytes()
    assert b"our own helper" not in activate

    doc = sp_json("rollback", "tools-tracked", "--yes", cwd=root)
    assert (root / "tools" / "bin" / "activate").read_bytes() == activate
    assert not (root / "tools" / "setup.py").exists()
    assert (root / "tools" / "pyvenv.cfg").exists()
    assert {"path": "tools/bin/activate", "why": "virtual environment"} in doc["spared"]


def test_an_excluded_link_to_another_volume_is_never_removed(tmp_path: Path) -> None:
    root = small_site(tmp_path / "site")
    sp("create", "--label", "no-media", cwd=root, check=True)
    write(root / "media", "a file named media, tracked: media/ excludes directories\n")
    sp("create", "--label", "media-a-file", cwd=root, check=True)
    (root / "media").unlink()
    volume = tmp_path / "volume" / "media"
    write(volume / "uploads" / "photo.jpg", b"\xff\xd8 a photo")
    os.symlink(volume, root / "media")
    write(root / "app" / "views.py", "def index(): return 'changed'\n")

    proc = sp("rollback", "no-media", "--yes", cwd=root, check=True)
    assert os.readlink(root / "media") == os.fspath(volume)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("not restored"))
    assert "media" in line.partition(": ")[2].split(", ")
    # A checkpoint with something else at that path: the link stays all the same.
    sp("rollback", "media-a-file", "--yes", cwd=root, check=True)
    assert os.readlink(root / "media") == os.fspath(volume)
    assert (volume / "uploads" / "photo.jpg").read_bytes() == b"\xff\xd8 a photo"
