"""In-place rollback through the installed command: exact trees, untouched exclusions, undo,
and refusals that leave the site as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import (
    EXCLUDED,
    assert_one_line_error,
    on_terminal,
    package_tree,
    snapshot,
    sp,
    sp_json,
    write,
)

EXCLUDED_SAMPLES = (
    "db.sqlite3",
    "media",
    "logs",
    "venv",
    "tools/env2",
    "error.log",
    "eventsite/__pycache__",
    "node_modules",
    ".git",
)


def excluded_state(root: Path) -> dict[bytes, tuple]:
    snap = snapshot(root)
    return {
        p: v
        for p, v in snap.items()
        if any(p == s.encode() or p.startswith(s.encode() + b"/") for s in EXCLUDED_SAMPLES)
    }


def tracked_state(root: Path) -> dict[bytes, tuple]:
    return snapshot(root, skip=EXCLUDED)


def mess_up(root: Path) -> None:
    """Every kind of change a rollback must undo."""
    write(root / "eventsite" / "urls.py", "urlpatterns = [broken\n")  # edit
    write(root / "eventsite" / "new_view.py", "def v(): pass\n")  # addition
    (root / "run.sh").unlink()  # deletion
    os.chmod(root / "eventsite" / "settings.py", 0o644)  # mode change
    os.chmod(root / "manage.py", 0o644)  # lost its executable bit
    shutil.rmtree(root / "empty_dir")  # an empty directory deleted
    write(root / "empty_dir", "now a file\n")  # ... and a file in its place
    (root / "static" / "empty.txt").unlink()
    (root / "static" / "empty.txt").mkdir()  # file -> directory
    write(root / "static" / "empty.txt" / "inner.css", "x")
    (root / "settings_link").unlink()
    write(root / "settings_link", "a file where a link was\n")  # symlink -> file
    (root / "templates" / "base.html").unlink()
    os.symlink("/etc/passwd", root / "templates" / "base.html")  # file -> symlink
    (root / "dir_link").unlink()
    (root / "dir_link").mkdir()  # symlink -> directory
    write(root / "newapp" / "models.py", "class M: pass\n")  # new directory tree
    write(root / "newapp" / "__pycache__" / "models.cpython-311.pyc", b"\0")  # excluded in it
    write(root / "media" / "uploads" / "new.jpg", b"new upload")  # excluded: must survive
    write(root / "logs" / "access.log", "GET / 500\n")


def test_rollback_restores_every_kind_of_change(site: Path) -> None:
    sp("create", "--label", "stable", cwd=site, check=True)
    want = tracked_state(site)
    keep_inode = os.stat(site / "static" / "big.bin").st_ino
    mess_up(site)
    excluded_before = excluded_state(site)
    proc = sp("rollback", "stable", "--yes", "--no-health", cwd=site)
    assert proc.returncode == 0, proc.stderr
    assert "safety checkpoint" in proc.stdout
    after = tracked_state(site)
    # newapp/ is kept: it holds an excluded __pycache__/, and excluded files are never deleted
    assert after.pop(b"newapp")[0] == "d"
    assert {p: v for p, v in after.items() if not p.startswith(b"newapp/")} == want
    assert excluded_state(site) == excluded_before
    assert (site / "newapp" / "__pycache__" / "models.cpython-311.pyc").exists()
    assert not (site / "newapp" / "models.py").exists()
    assert "kept directory newapp" in proc.stderr
    assert os.stat(site / "static" / "big.bin").st_ino == keep_inode  # unchanged: not touched
    status = sp_json("status", cwd=site)
    assert status["added"] == ["newapp"]  # the kept directory, and nothing else
    assert not (status["modified"] or status["deleted"] or status["mode_changed"])
    assert sp_json("create", cwd=site)["hashed"] == 0  # the stat cache is up to date


def test_rolling_back_to_the_safety_checkpoint_undoes_exactly(site: Path) -> None:
    sp("create", "--label", "stable", cwd=site, check=True)
    mess_up(site)
    before = tracked_state(site)
    result = sp_json("rollback", "stable", "--yes", "--no-health", cwd=site)
    safety = result["safety"]
    listed = {c["id"]: c for c in sp_json("list", cwd=site)}
    assert listed[safety]["kind"] == "safety"
    sp("rollback", safety[:8], "--yes", "--no-health", cwd=site, check=True)
    assert tracked_state(site) == before


def test_dry_run_changes_nothing(site: Path) -> None:
    sp("create", "--label", "stable", cwd=site, check=True)
    mess_up(site)
    before = snapshot(site, skip=(".safepoint",))
    proc = sp("rollback", "stable", "--dry-run", cwd=site, check=True)
    assert "write   eventsite/urls.py" in proc.stdout and "nothing was changed" in proc.stdout
    assert "media/" in proc.stdout  # says what it will not restore
    doc = sp_json("rollback", "stable", "--dry-run", cwd=site)
    assert doc["dry_run"] and "eventsite/urls.py" in doc["paths"]["write"]
    assert snapshot(site, skip=(".safepoint",)) == before
    assert len(sp_json("list", cwd=site)) == 1  # no safety checkpoint either


def test_without_a_terminal_rollback_needs_yes(site: Path) -> None:
    sp("create", "--label", "stable", cwd=site, check=True)
    write(site / "eventsite" / "urls.py", "changed\n")
    before = snapshot(site, skip=(".safepoint",))
    proc = sp("rollback", "stable", cwd=site)
    assert_one_line_error(proc, 2)
    assert "--yes" in proc.stderr
    assert snapshot(site, skip=(".safepoint",)) == before


@pytest.mark.parametrize("answer, changed", [("y\n", True), ("n\n", False)])
def test_on_a_terminal_rollback_asks(site: Path, answer: str, changed: bool) -> None:
    sp("create", "--label", "stable", cwd=site, check=True)
    write(site / "eventsite" / "urls.py", "changed\n")
    proc = on_terminal("rollback", "stable", "--no-health", answer=answer, cwd=site)
    assert "Roll back" in proc.stdout and "eventsite/urls.py" in proc.stdout
    assert (site / "eventsite" / "urls.py").read_text() != "changed\n" if changed else True
    if not changed:
        assert proc.returncode == 1
        assert (site / "eventsite" / "urls.py").read_text() == "changed\n"


def test_no_reference_means_known_good_and_says_so_when_there_is_none(site: Path) -> None:
    sp("create", cwd=site, check=True)
    proc = sp("rollback", "--yes", "--no-health", cwd=site)
    assert_one_line_error(proc, 2)
    assert "known-good" in proc.stderr


def test_unknown_reference_changes_nothing(site: Path) -> None:
    sp("create", cwd=site, check=True)
    mess_up(site)
    # the lock's holder text comes and goes; the catalogue is a cache any command may write
    unchanged = (".safepoint/lock", ".safepoint/catalogue")
    before = snapshot(site, skip=unchanged)
    proc = sp("rollback", "nosuch", "--yes", "--no-health", cwd=site)
    assert_one_line_error(proc, 2)
    assert "nosuch" in proc.stderr
    assert snapshot(site, skip=unchanged) == before  # no safety checkpoint either


def _damage_blob_of(site: Path, ref: str, path: str) -> None:
    entries = sp_json("show", ref, "--files", cwd=site)["entries"]
    blob = next(e["sha256"] for e in entries if e["path"] == path)
    import sqlite3

    db = sqlite3.connect(site / ".safepoint" / "index.sqlite")
    name, offset = db.execute(
        "SELECT p.name, b.offset FROM blobs b JOIN packs p ON p.id=b.pack WHERE b.id=?",
        (bytes.fromhex(blob),),
    ).fetchone()
    db.close()
    pack = site / ".safepoint" / "packs" / name[:2] / f"{name}.pack"
    data = bytearray(pack.read_bytes())
    data[offset + 50] ^= 0xFF
    pack.write_bytes(bytes(data))


def test_damaged_target_blob_leaves_the_site_untouched(site: Path) -> None:
    write(site / "eventsite" / "views.py", "def index(): return 'v1'\n" * 50)
    sp("create", "--label", "stable", cwd=site, check=True)
    write(site / "eventsite" / "views.py", "def index(): return 'v2'\n")
    write(site / "eventsite" / "urls.py", "changed\n")
    (site / "run.sh").unlink()
    _damage_blob_of(site, "stable", "eventsite/views.py")
    before = snapshot(site, skip=(".safepoint",))
    inode = os.stat(site / "eventsite" / "urls.py").st_ino
    proc = sp("rollback", "stable", "--yes", "--no-health", cwd=site)
    assert_one_line_error(proc, 3)
    assert "eventsite/views.py" in proc.stderr and "nothing in the site was changed" in proc.stderr
    assert snapshot(site, skip=(".safepoint",)) == before
    assert os.stat(site / "eventsite" / "urls.py").st_ino == inode
    assert not (site / ".safepoint" / "journal.json").exists()


def test_directory_with_excluded_files_in_the_way_of_a_file(site: Path) -> None:
    write(site / "cache", "a file\n")
    sp("create", "--label", "stable", cwd=site, check=True)
    (site / "cache").unlink()
    write(site / "cache" / "views.py", "x\n")
    write(site / "cache" / "debug.log", "excluded\n")
    before = snapshot(site, skip=(".safepoint",))
    proc = sp("rollback", "stable", "--yes", "--no-health", cwd=site)
    assert_one_line_error(proc, 1)
    assert "cache" in proc.stderr and "excluded" in proc.stderr
    assert snapshot(site, skip=(".safepoint",)) == before


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root on ext4-like filesystems)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_unwritable_directory_fails_before_any_change(site: Path) -> None:
    sp("create", "--label", "stable", cwd=site, check=True)
    write(site / "eventsite" / "urls.py", "changed\n")
    write(site / "templates" / "base.html", "changed\n")
    before = snapshot(site, skip=(".safepoint",))
    with immutable(site / "templates"):
        proc = sp("rollback", "stable", "--yes", "--no-health", cwd=site)
        assert_one_line_error(proc, 1)
        assert "nothing in it was changed" in proc.stderr
        assert snapshot(site, skip=(".safepoint",)) == before


def test_failure_half_way_through_is_undone_at_once(site: Path) -> None:
    sp("create", "--label", "stable", cwd=site, check=True)
    write(site / "aaa_locked" / "extra.py", "remove me\n")  # removal fails: immutable dir
    write(site / "zzz" / "extra.py", "removed first\n")  # removals run in reverse path order
    write(site / "eventsite" / "urls.py", "changed\n")
    before = snapshot(site, skip=(".safepoint",))
    with immutable(site / "aaa_locked"):
        proc = sp("rollback", "stable", "--yes", "--no-health", cwd=site)
        assert_one_line_error(proc, 1)
        assert "put back as it was" in proc.stderr
        assert snapshot(site, skip=(".safepoint",)) == before
    assert not (site / ".safepoint" / "journal.json").exists()


def test_pending_journal_blocks_changes_but_not_reads(site: Path) -> None:
    cid = sp_json("create", "--label", "stable", cwd=site)["id"]
    journal = site / ".safepoint" / "journal.json"
    journal.write_text(
        json.dumps(
            {
                "version": 1,
                "target": cid,
                "safety": cid,
                "nonce": "ab",
                "started": "2026-01-01T00:00:00+00:00",
                "purpose": "rollback",
            }
        )
    )
    for args in (["create"], ["rollback", "stable", "--yes", "--no-health"]):
        proc = sp(*args, cwd=site)
        assert_one_line_error(proc, 1)
        assert "safepoint recover" in proc.stderr
    assert sp("list", cwd=site).returncode == 0
    assert sp("status", cwd=site).returncode == 0
    assert sp("verify", cwd=site).returncode == 0
    proc = sp("recover", cwd=site, check=True)
    assert "finished" in proc.stdout
    assert not journal.exists()
    assert "nothing to recover" in sp("recover", cwd=site, check=True).stdout


def test_status_and_diff(site: Path) -> None:
    a = sp_json("create", "--label", "a", cwd=site)["id"]
    assert sp_json("status", cwd=site)["clean"]
    write(site / "eventsite" / "urls.py", "changed\n")
    write(site / "added.py", "new\n")
    (site / "run.sh").unlink()
    os.chmod(site / "manage.py", 0o700)
    st = sp_json("status", cwd=site)
    assert st["modified"] == ["eventsite/urls.py"] and st["added"] == ["added.py"]
    assert st["deleted"] == ["run.sh"] and st["mode_changed"] == ["manage.py"]
    b = sp_json("create", "--label", "b", cwd=site)["id"]
    d = sp_json("diff", a, b, cwd=site)
    assert d["modified"] == ["eventsite/urls.py"] and d["deleted"] == ["run.sh"]
    assert sp_json("diff", "a", cwd=site)["modified"] == ["eventsite/urls.py"]
    human = sp("status", cwd=site, check=True).stdout
    assert "no changes" in human


def test_recover_falls_back_to_the_safety_checkpoint_when_the_target_is_damaged(
    site: Path,
) -> None:
    write(site / "eventsite" / "views.py", "def index(): return 'target'\n" * 40)
    target = sp_json("create", "--label", "target", cwd=site)["id"]
    write(site / "eventsite" / "views.py", "def index(): return 'before'\n")
    safety = sp_json("create", "--label", "before", cwd=site)["id"]
    before = tracked_state(site)
    _damage_blob_of(site, "target", "eventsite/views.py")
    # as a rollback killed after writing its journal would leave it
    (site / ".safepoint" / "journal.json").write_text(
        json.dumps(
            {
                "version": 1,
                "target": target,
                "safety": safety,
                "nonce": "dead",
                "started": "2026-01-01T00:00:00+00:00",
                "purpose": "rollback",
            }
        )
    )
    write(site / "eventsite" / ".safepoint-tmp-dead-123", "half-staged")
    proc = sp("recover", cwd=site)
    assert proc.returncode == 0, proc.stderr
    assert "safety checkpoint" in proc.stdout and "cannot bring the site" in proc.stderr
    assert tracked_state(site) == before
    assert not (site / "eventsite" / ".safepoint-tmp-dead-123").exists()
    assert not (site / ".safepoint" / "journal.json").exists()


def test_rollback_in_a_large_tree_restores_directory_times_outside_the_changed_chunks(
    tmp_path: Path,
) -> None:
    """Planning reads only the manifest chunks that differ; a directory whose own entry sits
    in a chunk both sides share must still get its mtime back after its file is replaced."""
    root = package_tree(tmp_path / "site", 30, 40)
    sp("init", cwd=root, check=True)
    sp("create", "--label", "base", cwd=root, check=True)
    before = snapshot(root, skip=(".safepoint", "safepoint.toml"))
    dir_mtime = os.stat(root / "pkg07").st_mtime_ns
    (root / "pkg07" / "m010.py").write_text("# broken\n")  # in place: pkg07's mtime stays
    (root / "pkg21" / "m001.py").write_text("# broken too\n")
    sp("create", cwd=root, check=True)
    result = sp_json("rollback", "base", "--yes", "--no-health", cwd=root)
    assert result["unchanged"] == 30 + 30 * 40 - 2
    assert sorted(result["paths"]["write"]) == ["pkg07/m010.py", "pkg21/m001.py"]
    assert snapshot(root, skip=(".safepoint", "safepoint.toml")) == before
    assert os.stat(root / "pkg07").st_mtime_ns == dir_mtime
    assert "no changes" in sp("status", cwd=root, check=True).stdout


def test_a_directory_whose_only_change_is_its_mode_is_rolled_back(site: Path) -> None:
    sp("create", "--label", "stable", cwd=site, check=True)
    before = tracked_state(site)
    os.chmod(site / "static", 0o700)  # nothing else changed
    sp("rollback", "stable", "--yes", "--no-health", cwd=site, check=True)
    assert tracked_state(site) == before
    assert sp_json("status", cwd=site)["clean"]


def test_recover_gives_new_directories_their_mode_after_a_kill_before_the_modes_were_set(
    site: Path,
) -> None:
    """A switch makes new directories 0700 and sets their mode last: killed between the two
    (the CI run that found it killed the undo of an unhealthy rollback there), the site holds
    every file of the target and only the directories' modes differ."""
    write(site / "newapp" / "models.py", "class M: pass\n")
    os.chmod(site / "newapp", 0o755)
    cid = sp_json("create", "--label", "target", cwd=site)["id"]
    target = tracked_state(site)
    os.chmod(site / "newapp", 0o700)  # as os.mkdir(path, 0o700) in restore/apply.py left it
    journal = site / ".safepoint" / "journal.json"
    doc = {"version": 1, "target": cid, "safety": cid, "nonce": "ab", "purpose": "undo"}
    journal.write_text(json.dumps({**doc, "started": "2026-01-01T00:00:00+00:00"}))
    sp("recover", cwd=site, check=True)
    assert not journal.exists()
    assert tracked_state(site) == target
