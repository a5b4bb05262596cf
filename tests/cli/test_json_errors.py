"""With --json, an expected failure prints one JSON object on stdout as well as the line on
stderr, so a script reading stdout learns what went wrong. It used to print nothing there."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from tests.helpers import assert_one_line_error, sp, sp_json, write


def _error(proc, code: int, kind: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert_one_line_error(proc, code)
    doc = json.loads(proc.stdout)
    assert doc == {
        "error": proc.stderr.strip().removeprefix("safepoint: "),
        "exit_code": code,
        "kind": kind,
    }
    return doc


def test_expected_failures_are_a_json_object_on_stdout(site: Path, tmp_path: Path) -> None:
    sp("create", cwd=site, check=True)
    _error(sp("show", "nosuch", "--json", cwd=site), 2, "bad_reference")
    _error(sp("list", "--json", cwd=tmp_path), 2, "config")  # no safepoint.toml
    busy = tmp_path / "busy"
    write(busy / "x", "x")
    _error(sp("restore", "latest", "--to", busy, "--json", cwd=site), 2, "usage")
    _error(sp("restore", "latest", "--json", cwd=site), 2, "usage")  # --to missing (click)
    _error(sp("list", "--json", "--bogus", cwd=site), 2, "usage")  # before --json is read
    fd = os.open(site / ".safepoint" / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _error(sp("create", "--json", cwd=site), 1, "locked")
    finally:
        os.close(fd)
    # without --json, stdout stays empty
    proc = sp("show", "nosuch", cwd=site)
    assert_one_line_error(proc, 2)
    assert proc.stdout == ""


def test_a_command_that_printed_its_document_prints_no_second_one(site: Path) -> None:
    first = sp_json("create", cwd=site)["id"]
    write(site / "eventsite" / "urls.py", "urlpatterns = ['changed']\n")
    sp("create", cwd=site, check=True)
    write(site / "safepoint.toml", '[health]\nretries = 1\n[[health.command]]\nrun = "false"\n')
    proc = sp("rollback", first, "--yes", "--json", cwd=site)
    assert proc.returncode == 4
    doc = json.loads(proc.stdout)  # exactly one document: the report of the undone rollback
    assert doc["undone"] is True
