"""The restore script against hostile values and other users: a script built from a record,
a site path, an archive name and health checks full of newlines, quotes, ``$(...)``,
backticks and control characters runs nothing of them (``--help`` and real restores), and
the backup it makes of the target is readable by its owner only."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

import safepoint
from safepoint.store.records import save_record
from tests.helpers import snapshot, sp, sp_json, write

# Each hostile value runs `touch pwned-<field>` in the working folder if it ever escapes.
HOSTILE = "{f}\n$(touch pwned-{f}) `touch pwned-{f}2` ' \" \\ \x1b[31m\x07 ; touch pwned-{f}3 #"


def hostile(field: str) -> str:
    return HOSTILE.format(f=field)


def pwned(*folders: Path) -> list[Path]:
    found = [p for folder in folders for p in folder.rglob("pwned*")]
    return found + list(Path("/").glob("pwned*")) + list(Path("/tmp").glob("pwned*"))


def hostile_export(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(site root, work folder, restore script): a checkpoint record rewritten with hostile
    values in every field (as an old repository or a forged record could hold them; import
    and create refuse them now), exported under a hostile archive name."""
    root = tmp_path / "site $(touch pwned-root) `touch pwned-root2` 'q\"\nx"
    write(root / "app" / "views.py", "def view(): ...\n")
    write(root / "settings.py", "SECRET_KEY = 'x'\n", mode=0o600)
    sp("init", cwd=root, check=True)
    toml = root / "safepoint.toml"
    text = re.sub(r"retries = \d+", "retries = 1", toml.read_text())
    text = re.sub(r"timeout = [\d.]+", "timeout = 1", text)
    text = re.sub(r"interval = [\d.]+", "interval = 0", text)
    url = "http://127.0.0.1:9/$(touch pwned-url)`touch pwned-url2`'\""
    body = json.dumps(hostile("body"))  # a JSON string is a TOML basic string
    text += f"\n[[health.http]]\nurl = {json.dumps(url)}\nstatus = 200\nbody_contains = {body}\n"
    toml.write_text(text)
    sp("create", "--label", "v1", cwd=root, check=True)
    with safepoint.open_site(root) as site:
        repo = site.repository
        (cp,) = repo.checkpoints()
        forged = save_record(
            repo.records_dir,
            replace(
                cp,
                label=hostile("label"),
                note=hostile("note"),
                created="2024-01-01\n00:00:00+00:00",  # parses, and once broke the comment
                host=hostile("host"),
                user=hostile("user"),
            ),
        )
        (repo.records_dir / f"{cp.id}.json").unlink()
    work = tmp_path / "work"
    out = tmp_path / "out"
    work.mkdir()
    out.mkdir()
    name = "arch $(touch pwned-arch) `touch pwned-arch2` 'x\" \x1b.tar.gz"
    doc = sp_json("export", forged.id, "-o", out / name, "--root", root, cwd=work)
    return root, work, Path(doc["restore_script"])


def run_in(
    work: Path, script: Path, *args: str | os.PathLike[str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["dash", script, *map(os.fspath, args)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_hostile_values_never_run_in_the_restore_script(tmp_path: Path) -> None:
    root, work, script = hostile_export(tmp_path)
    proc = run_in(work, script, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Restores checkpoint" in proc.stdout
    assert pwned(tmp_path) == []
    assert subprocess.run(["dash", "-n", script], capture_output=True).returncode == 0
    header = script.read_bytes().split(b"\nset -u\n")[0]
    assert all(line.startswith(b"#") for line in header.splitlines())
    (label_line,) = [x for x in script.read_bytes().split(b"\n") if x.startswith(b"LABEL=")]
    assert b"\x1b" not in label_line and b"\\x1b" in label_line  # shown, never sent raw

    # a real restore into another folder
    copy = tmp_path / "copy"
    proc = run_in(work, script, "--yes", copy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (copy / "app" / "views.py").read_text() == "def view(): ...\n"
    assert pwned(tmp_path) == []

    # and into the site root: backup, removals, extraction, the (failing) health check
    (root / "app" / "views.py").write_text("broken\n")
    proc = run_in(work, script, "--yes")
    assert proc.returncode == 4, proc.stdout + proc.stderr  # the health URL answers nothing
    assert (root / "app" / "views.py").read_text() == "def view(): ...\n"
    assert pwned(tmp_path) == []
    assert snapshot(copy) == snapshot(root, skip=(".safepoint", "safepoint.toml"))


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def logging_gzip(tmp_path: Path) -> dict[str, str]:
    """A PATH whose gzip first notes the mode of the file it writes to (its stdout) and then
    runs the real gzip: so the test sees the backup's partial file while it is written."""
    bin_dir = tmp_path / "bin"
    real = subprocess.run(["sh", "-c", "command -v gzip"], capture_output=True, text=True)
    write(
        bin_dir / "gzip",
        "#!/bin/sh\nif [ -f /proc/$$/fd/1 ]; then\n"
        f'  stat -L -c %a /proc/$$/fd/1 >>"{tmp_path}/modes"\nfi\n'
        f'exec {real.stdout.strip()} "$@"\n',
        mode=0o755,
    )
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_the_backup_of_the_target_is_private(
    site: Path, tmp_path: Path, logging_gzip: dict[str, str]
) -> None:
    sp("create", "--label", "v1", cwd=site, check=True)
    out = tmp_path / "out"
    out.mkdir()
    script = Path(sp_json("export", "v1", "-o", f"{out}/", cwd=site)["restore_script"])
    proc = subprocess.run(
        ["dash", "-c", 'umask 022; exec dash "$0" --yes', script],
        cwd="/",
        env=logging_gzip,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (backup,) = tmp_path.glob("site_before-restore_*.tar.gz")
    assert file_mode(backup) == 0o600
    assert file_mode(backup.with_name(backup.name + ".sha256")) == 0o600
    assert (tmp_path / "modes").read_text().split() == ["600"]  # the partial file, while written
    assert not list(tmp_path.glob("*.partial"))
    subprocess.run(["sha256sum", "-c", backup.name + ".sha256"], cwd=tmp_path, check=True)
