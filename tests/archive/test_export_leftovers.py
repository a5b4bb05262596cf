"""What a killed or failed export leaves beside its output: partial archives of dead exports
are removed by the next export (which says how much it freed), and a failed export leaves no
checksum file without its archive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, sp, sp_json


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_partial_archives_of_killed_exports_are_removed(site: Path, tmp_path: Path) -> None:
    sp("create", "--label", "stable", cwd=site, check=True)
    out = tmp_path / "out"
    out.mkdir()
    dead = out / f".site_stable.tar.gz.partial-{dead_pid()}"
    dead.write_bytes(os.urandom(2 * 1024 * 1024))
    live = out / f".other.tar.gz.partial-{os.getpid()}"  # an export still running
    live.write_bytes(b"x")
    proc = sp("export", "stable", "-o", out / "site.tar.gz", cwd=site)
    assert proc.returncode == 0, proc.stderr
    assert "removed 1 leftover file(s) of interrupted commands (2.0 MiB freed)" in proc.stderr
    assert not dead.exists() and live.exists()


def test_a_failed_export_leaves_no_orphan_checksum(site: Path, tmp_path: Path) -> None:
    sp("create", "--label", "stable", cwd=site, check=True)
    archive = tmp_path / "site.tar.gz"
    done = sp_json("export", "stable", "-o", archive, cwd=site)
    script, sums = Path(done["restore_script"]), Path(done["checksum_file"])
    archive.unlink()
    sums.unlink()
    if subprocess.run(["chattr", "+i", str(script)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here: no way to make the script unwritable")
    try:
        proc = sp("export", "stable", "-o", archive, cwd=site)
    finally:
        subprocess.run(["chattr", "-i", str(script)], check=True)
    assert_one_line_error(proc, 1)
    assert not archive.exists() and not sums.exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
