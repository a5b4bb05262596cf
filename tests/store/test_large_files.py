"""Files larger than LARGE are hashed, stored, verified, restored, rolled back and exported in
pieces, never held whole in memory; damage in them is still caught."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from safepoint.store.pack import LARGE
from tests.helpers import SAFEPOINT, assert_one_line_error, snapshot, sp, sp_json, write


def big(path: Path, seed: int) -> str:
    """A file of LARGE + a bit: random 1 MiB blocks, repeated, so it compresses somewhat."""
    block = hashlib.sha256(str(seed).encode()).digest() * 32768  # 1 MiB
    data = block * (LARGE // len(block) + 3) + b"tail"
    write(path, data)
    return hashlib.sha256(data).hexdigest()


def peak_rss_mib(*args: str | os.PathLike[str], cwd: Path) -> float:
    """Run the command and return its own peak RSS (GNU time, so the runner's is not counted)."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%M", SAFEPOINT, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stderr.strip().splitlines()[-1]) / 1024


@pytest.mark.slow
def test_large_file_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "site"
    digest = big(root / "models" / "weights.bin", 1)
    write(root / "app.py", "x = 1\n")
    sp("init", cwd=root, check=True)
    created = sp_json("create", "--label", "v1", cwd=root)
    entries = {e["path"]: e for e in sp_json("show", "v1", "--files", cwd=root)["entries"]}
    assert entries["models/weights.bin"]["sha256"] == digest
    assert created["new_bytes"] < LARGE  # compressed on the way in
    assert sp("verify", cwd=root).returncode == 0
    sp("restore", "v1", "--to", tmp_path / "out", cwd=root, check=True)
    assert snapshot(tmp_path / "out") == snapshot(root, skip=(".safepoint", "safepoint.toml"))

    big(root / "models" / "weights.bin", 2)  # replaced by other content
    sp("rollback", "v1", "--yes", "--no-health", cwd=root, check=True)
    got = hashlib.sha256((root / "models" / "weights.bin").read_bytes()).hexdigest()
    assert got == digest

    archive = tmp_path / "v1.tar.gz"
    sp("export", "v1", "-o", archive, cwd=root, check=True)
    listing = subprocess.run(["tar", "tvzf", archive], capture_output=True, text=True, check=True)
    assert "models/weights.bin" in listing.stdout


def test_large_file_memory_stays_bounded(tmp_path: Path) -> None:
    if not Path("/usr/bin/time").exists():
        return  # GNU time is what measures the child alone
    root = tmp_path / "site"
    for i in range(3):
        big(root / f"blob{i}.bin", i)  # 3 x 35 MiB: held whole, three workers would need 105+
    sp("init", cwd=root, check=True)
    assert peak_rss_mib("create", cwd=root) < 100
    assert peak_rss_mib("restore", "latest", "--to", tmp_path / "out", cwd=root) < 100


def test_damage_in_a_large_blob_is_caught_and_never_left_in_place(tmp_path: Path) -> None:
    root = tmp_path / "site"
    big(root / "weights.bin", 3)
    sp("init", cwd=root, check=True)
    sp("create", "--label", "v1", cwd=root, check=True)
    pack = max((root / ".safepoint" / "packs").glob("*/*.pack"), key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    assert sp("verify", cwd=root).returncode == 3
    proc = sp("restore", "v1", "--to", tmp_path / "out", cwd=root)
    assert_one_line_error(proc, 3)
    assert not (tmp_path / "out").exists()
    big(root / "weights.bin", 4)
    before = snapshot(root, skip=(".safepoint",))
    proc = sp("rollback", "v1", "--yes", "--no-health", cwd=root)
    assert_one_line_error(proc, 3)
    assert snapshot(root, skip=(".safepoint",)) == before
    assert not [p for p in root.iterdir() if p.name.startswith(".safepoint-tmp-")]
