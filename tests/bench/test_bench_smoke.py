"""Smoke test for the benchmark runner (bench/run.py): a tiny tree, one run, every installed peer.

Not a timed test: it only checks that the runner gets through every step, prints the table, and
that every tool backed up the same files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs restic, borg, tar and rsync besides safepoint

RUNNER = Path(__file__).resolve().parents[2] / "bench" / "run.py"
PEER_ROWS = {
    "restic": ("restic backup", ("restic",)),
    "borg": ("borg create", ("borg",)),
    "tar": ("tar czf", ("tar", "gzip", "sha256sum")),
    "rsync": ("rsync -a --delete from mirror", ("rsync",)),
}


def make_tiny_site(root: Path) -> None:
    """A few dozen files with everything the exclude rules care about."""
    for app in ("events", "tickets"):
        (root / app / "templates").mkdir(parents=True)
        for i in range(8):
            (root / app / f"mod{i}.py").write_text(f"X = {i}\n" * 20)
            (root / app / "templates" / f"page{i}.html").write_text(f"<p>{i}</p>\n" * 10)
    (root / "venv" / "lib" / "__pycache__").mkdir(parents=True)
    (root / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (root / "venv" / "lib" / "mod.py").write_text("Y = 1\n")
    (root / "venv" / "lib" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0" * 64)
    (root / "venv" / "bin").mkdir()
    os.symlink("/usr/bin/python3", root / "venv" / "bin" / "python")
    (root / "media").mkdir()
    (root / "media" / "photo.jpg").write_bytes(b"\xff" * 2000)
    (root / "logs").mkdir()
    (root / "logs" / "access.log").write_text("GET / 200\n")
    (root / "db.sqlite3").write_bytes(b"SQLite" * 100)


def test_runner_prints_the_table(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_tiny_site(site)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [
            sys.executable,
            str(RUNNER),
            "--site",
            str(site),
            "--runs",
            "1",
            "--cache",
            "warm",
            "--size-checkpoints",
            "2",
            "--work",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for title in (
        "1  first checkpoint",
        "2a checkpoint",
        "2b checkpoint",
        "3  rollback",
        "4  restore",
        "6  verify",
        "Targets (DESIGN.md)",
    ):
        assert title in out, f"missing {title!r} in:\n{out}"
    for row, tools in PEER_ROWS.values():
        installed = all(shutil.which(t) for t in tools)
        line = next((ln for ln in out.splitlines() if row in ln), "")
        assert line, f"no {row!r} row in:\n{out}"
        assert ("not run" in line) != installed, line
    assert "MISMATCH" not in out, out  # every tool must have stored the same files
    assert (site / "media" / "photo.jpg").exists()  # the original is only read
    assert not (site / "safepoint.toml").exists()
