"""Bad input: one clear line on stderr, the documented exit code, nothing written."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, snapshot, sp, sp_json, write


def test_no_safepoint_toml_anywhere(tmp_path: Path) -> None:
    proc = sp("list", cwd=tmp_path)
    assert_one_line_error(proc, 2)
    assert "safepoint.toml" in proc.stderr


def test_malformed_toml_names_the_file(site: Path) -> None:
    (site / "safepoint.toml").write_text("[health\nretries = 3\n")
    proc = sp("create", cwd=site)
    assert_one_line_error(proc, 2)
    assert "safepoint.toml" in proc.stderr and "TOML" in proc.stderr


def test_unknown_key_and_wrong_type_name_key_and_reason(site: Path) -> None:
    (site / "safepoint.toml").write_text("[health]\nretrys = 3\n")
    proc = sp("create", cwd=site)
    assert_one_line_error(proc, 2)
    assert "[health] retrys: unknown key" in proc.stderr
    (site / "safepoint.toml").write_text('[health]\nretries = "ten"\n')
    proc = sp("create", cwd=site)
    assert_one_line_error(proc, 2)
    assert "[health] retries: expected an integer" in proc.stderr
    assert list((site / ".safepoint" / "checkpoints").iterdir()) == []


@pytest.mark.parametrize("pattern", ["!", "[z-a]"])
def test_bad_exclude_pattern(site: Path, pattern: str) -> None:
    """Rules are compiled when first needed; a bad one is still one line, and no checkpoint.
    ("[z-a]" is valid gitignore syntax that pathspec turns into a regex Python refuses.)"""
    (site / ".safepointignore").write_text(f"{pattern}\n")
    proc = sp("create", cwd=site)
    assert_one_line_error(proc, 2)
    assert "bad exclude pattern" in proc.stderr
    assert list((site / ".safepoint" / "checkpoints").iterdir()) == []


def test_unknown_reference(site: Path) -> None:
    sp("create", cwd=site, check=True)
    for ref in ("nosuch", "abc", "good"):
        proc = sp("show", ref, cwd=site)
        assert_one_line_error(proc, 2)


def test_ambiguous_prefix(site: Path) -> None:
    """Two checkpoints whose ids share their first 4 digits, every time: the twin is the first
    record with another note, tried until its id (the SHA-256 of its bytes) starts the same
    (about 65,000 hashes). Creating checkpoints until two ids collide met the ambiguity in
    about 1 run of 100."""
    first = sp_json("create", cwd=site)["id"]
    records = site / ".safepoint" / "checkpoints"
    doc = json.loads((records / f"{first}.json").read_bytes())
    doc["note"] = "twin \0"
    head, tail = (
        json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=True).encode() + b"\n"
    ).split(b"\\u0000")
    for n in range(10**7):  # bounded; fails to find one with probability about e**-150
        body = head + str(n).encode() + tail
        twin = hashlib.sha256(body).hexdigest()
        if twin[:4] == first[:4]:
            break
    assert twin[:4] == first[:4]
    (records / f"{twin}.json").write_bytes(body)
    proc = sp("show", first[:4], cwd=site)
    assert_one_line_error(proc, 2)
    assert f"'{first[:4]}' is ambiguous (2 checkpoints" in proc.stderr
    differ = next(i for i in range(64) if first[i] != twin[i]) + 1  # the shortest unique
    assert sp_json("show", first[:differ], cwd=site)["id"] == first
    assert sp_json("show", twin[:differ], cwd=site)["note"] == f"twin {n}"


def test_unknown_repository_version(site: Path) -> None:
    fmt = site / ".safepoint" / "format.json"
    doc = json.loads(fmt.read_text())
    doc["version"] = 99
    fmt.write_text(json.dumps(doc))
    proc = sp("create", cwd=site)
    assert_one_line_error(proc, 2)
    assert "version 99" in proc.stderr
    assert list((site / ".safepoint" / "checkpoints").iterdir()) == []


def test_locked_repository(site: Path) -> None:
    fd = os.open(site / ".safepoint" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = sp("create", cwd=site)
        assert_one_line_error(proc, 1)
        assert "locked" in proc.stderr
        assert sp("list", cwd=site).returncode == 0  # readers need no lock
    finally:
        os.close(fd)
    assert sp("create", cwd=site).returncode == 0


def test_restore_into_non_empty_directory(site: Path, tmp_path: Path) -> None:
    sp("create", cwd=site, check=True)
    target = tmp_path / "busy"
    write(target / "keep.txt", "mine")
    before = snapshot(target)
    proc = sp("restore", "latest", "--to", target, cwd=site)
    assert_one_line_error(proc, 2)
    assert snapshot(target) == before


def test_root_that_does_not_exist(tmp_path: Path) -> None:
    proc = sp("list", "--root", tmp_path / "nope", cwd=tmp_path)
    assert_one_line_error(proc, 2)
    proc = sp("init", "--root", tmp_path / "nope", cwd=tmp_path)
    assert_one_line_error(proc, 2)
    assert not (tmp_path / "nope").exists()


def test_repository_missing(site: Path) -> None:
    import shutil

    shutil.rmtree(site / ".safepoint")
    proc = sp("list", cwd=site)
    assert_one_line_error(proc, 2)
    # safepoint.toml names it: it was moved or unmounted, and init would start an empty one
    assert "missing" in proc.stderr and "init" not in proc.stderr
    (site / "safepoint.toml").write_text("[files]\nexclude = []\n")  # names none
    proc = sp("list", cwd=site)
    assert_one_line_error(proc, 2)
    assert "safepoint init" in proc.stderr


def test_usage_errors_are_one_line(site: Path) -> None:
    assert_one_line_error(sp("restore", "latest", cwd=site), 2)  # --to missing
    assert_one_line_error(sp("nosuchcommand", cwd=site), 2)
    assert_one_line_error(sp("create", "--note", "a", "--note-file", "b", cwd=site), 2)
