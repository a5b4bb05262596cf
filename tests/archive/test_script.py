"""The standalone restore script, run under dash on real targets: what it restores, what it
removes (only listed tracked paths), what it never touches, and when it stops."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.archive.conftest import Exported, export, give_owners
from tests.helpers import EXCLUDED, serving, snapshot, sp, write


def run_script(script: Path, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """The script as an operator runs it, from elsewhere, with only standard tools."""
    return subprocess.run(
        ["dash", script, *map(os.fspath, args)],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def exported_with_later_files(site: Path, tmp_path: Path) -> Exported:
    """v1, exported after two tracked paths were added that v1 does not hold."""
    give_owners(site)
    sp("create", "--label", "v1", cwd=site, check=True)
    write(site / "eventsite" / "extra.py", "added after v1\n")
    write(site / "newapp" / "views.py", "def view(): ...\n")
    return export(site, "v1", tmp_path / "out")


def test_script_restores_the_checkpoint_and_keeps_excluded_paths(
    site: Path, tmp_path: Path
) -> None:
    exp = exported_with_later_files(site, tmp_path)
    expected = tmp_path / "expected"
    sp("restore", "v1", "--to", expected, cwd=site, check=True)
    # break the site: edits, deletions, a mode change; excluded paths change too
    write(site / "eventsite" / "urls.py", "urlpatterns = ['broken']\n")
    (site / "manage.py").unlink()
    (site / "empty_dir" / "nested_empty").rmdir()
    os.chmod(site / "eventsite" / "settings.py", 0o644)
    write(site / "db.sqlite3", b"SQLite format 3\x00 newer data")
    write(site / "media" / "uploads" / "new.jpg", b"jpeg")
    write(site / "venv" / "lib" / "y.py", "y = 2\n")
    write(site / "late.py", "made after the export: not listed, so kept\n")
    proc = run_script(exp.script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""  # not even GNU tar's warning about hdrcharset
    assert snapshot(site, skip=(*EXCLUDED, "late.py")) == snapshot(expected)
    assert not (site / "eventsite" / "extra.py").exists()
    assert not (site / "newapp").exists()  # listed, and empty once its file was removed
    assert (site / "late.py").exists()
    assert (site / "db.sqlite3").read_bytes() == b"SQLite format 3\x00 newer data"
    assert (site / "media" / "uploads" / "new.jpg").exists()
    assert (site / "media" / "uploads" / "photo.jpg").exists()
    assert (site / "venv" / "lib" / "y.py").exists()
    assert (site / ".safepoint" / "format.json").exists()
    assert not (site / ".safepoint-checkpoint").exists()
    # the backup holds the broken state, and a checksum that sha256sum accepts
    backups = sorted(tmp_path.glob("site_before-restore_*.tar.gz"))
    assert len(backups) == 1 and str(backups[0]) in proc.stdout
    subprocess.run(["sha256sum", "-c", backups[0].name + ".sha256"], cwd=tmp_path, check=True)
    names = subprocess.run(
        ["tar", "-tzf", backups[0]], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "./late.py" in names and "./db.sqlite3" in names
    assert not any(n.startswith("./.safepoint/") for n in names)
    urls = subprocess.run(
        ["tar", "-xzOf", backups[0], "./eventsite/urls.py"], capture_output=True, check=True
    ).stdout
    assert urls == b"urlpatterns = ['broken']\n"


def test_a_damaged_archive_stops_the_script_before_anything_changes(
    exported: Exported, tmp_path: Path
) -> None:
    data = bytearray(exported.archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    exported.archive.write_bytes(bytes(data))
    (exported.site / "manage.py").unlink()
    before = snapshot(exported.site)
    proc = run_script(exported.script)
    assert proc.returncode == 3
    assert "checksum mismatch" in proc.stderr and "nothing was changed" in proc.stderr
    assert snapshot(exported.site) == before
    assert not list(tmp_path.glob("*before-restore*"))


def test_restore_into_a_new_folder(exported: Exported, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "copy"
    proc = run_script(exported.script, target)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(target) == snapshot(exported.site, skip=EXCLUDED)
    assert not list(target.parent.glob("*before-restore*"))  # nothing to back up


def test_listed_paths_under_a_symlink_are_never_removed(site: Path, tmp_path: Path) -> None:
    exp = exported_with_later_files(site, tmp_path)
    outside = tmp_path / "outside"
    write(outside / "views.py", "not the site's\n")
    (site / "newapp" / "views.py").unlink()
    (site / "newapp").rmdir()
    os.symlink(outside, site / "newapp")
    proc = run_script(exp.script)
    assert proc.returncode == 0, proc.stderr
    assert (outside / "views.py").read_text() == "not the site's\n"
    assert (site / "newapp").is_symlink()  # a listed folder, but now a symlink: left alone


def test_backup_folder_inside_the_target_is_refused(exported: Exported) -> None:
    (exported.site / "backups").mkdir()
    before = snapshot(exported.site)
    proc = run_script(exported.script, "--backup-dir", exported.site / "backups")
    assert proc.returncode == 2 and "inside" in proc.stderr
    assert snapshot(exported.site) == before


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = (200, b"status: ok") if self.path == "/health/" else (500, b"error")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    with serving(_Health) as url:
        yield url


def configure(site: Path, url: str) -> None:
    toml = site / "safepoint.toml"
    text = toml.read_text()
    text = re.sub(r"after_restore = \[\]", 'after_restore = ["touch hook-ran"]', text)
    text = re.sub(r"retries = \d+", "retries = 2", text)
    text = re.sub(r"interval = [\d.]+", "interval = 0", text)
    text += f'\n[[health.http]]\nurl = "{url}"\nstatus = 200\nbody_contains = "ok"\n'
    toml.write_text(text)


def test_hooks_and_health_checks_run_in_the_site_root(
    site: Path, tmp_path: Path, health_server: str
) -> None:
    configure(site, f"{health_server}/health/")
    sp("create", "--label", "v1", cwd=site, check=True)
    exp = export(site, "v1", tmp_path / "out")
    proc = run_script(exp.script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / "hook-ran").exists()
    assert f"health: {health_server}/health/: OK (200)" in proc.stdout
    # another target is not the site: no hooks, no checks
    (site / "hook-ran").unlink()
    proc = run_script(exp.script, tmp_path / "copy")
    assert proc.returncode == 0 and "hooks and health checks skipped" in proc.stdout
    assert not (site / "hook-ran").exists()


def test_failing_health_check_is_reported_with_exit_4(
    site: Path, tmp_path: Path, health_server: str
) -> None:
    configure(site, f"{health_server}/broken/")
    sp("create", "--label", "v1", cwd=site, check=True)
    exp = export(site, "v1", tmp_path / "out")
    (site / "manage.py").unlink()
    proc = run_script(exp.script)
    assert proc.returncode == 4
    assert "FAILED after 2 attempt(s): status 500, expected 200" in proc.stdout
    assert (site / "manage.py").exists()  # the files were restored all the same


def test_values_cannot_escape_their_quotes_in_the_script(site: Path, tmp_path: Path) -> None:
    label = "x'; touch pwned; echo ' $(touch pwned2) `touch pwned3`"  # no newline: refused
    sp("create", "--label", label, cwd=site, check=True)
    exp = export(site, label, tmp_path / "out")
    proc = run_script(exp.script, tmp_path / "copy")
    assert proc.returncode == 0, proc.stderr
    assert not list(Path("/").glob("pwned*")) and not list(tmp_path.rglob("pwned*"))
    assert (tmp_path / "copy" / "manage.py").exists()
    assert label in proc.stdout
