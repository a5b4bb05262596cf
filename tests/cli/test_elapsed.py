"""Reported times are the true elapsed times: an undone rollback of several seconds said
"in 0.00s" (its time was never set), and the wait at the confirmation prompt is not counted."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from safepoint.cli.output import human_duration
from tests.helpers import sp, sp_json, write


def _two_checkpoints(site: Path) -> str:
    first = sp_json("create", cwd=site)["id"]
    write(site / "eventsite" / "urls.py", "urlpatterns = ['changed']\n")
    sp("create", cwd=site, check=True)
    return str(first)


def _seconds(text: str) -> float:
    match = re.search(r"unchanged in (\d+(?:\.\d+)?)s", text)
    assert match, text
    return float(match.group(1))


@pytest.mark.slow  # waits out a real settle window: ~9 s
def test_an_undone_rollback_reports_its_real_time(site: Path) -> None:
    first = _two_checkpoints(site)
    write(
        site / "safepoint.toml",
        '[health]\nretries = 2\ninterval = 0.5\n[[health.command]]\nrun = "sleep 0.6; false"\n',
    )
    started = time.monotonic()
    proc = sp("rollback", first, "--yes", cwd=site)
    wall = time.monotonic() - started
    assert proc.returncode == 4, proc.stderr
    # two proofs (after the rollback, after the undo), each two attempts of 0.6 s and a pause
    assert 3.4 <= _seconds(proc.stdout) <= wall, (proc.stdout, wall)

    proc = sp("rollback", first, "--yes", "--json", cwd=site)
    assert proc.returncode == 4
    assert 3.4 <= json.loads(proc.stdout)["seconds"] <= wall + 5


def test_a_slow_hook_is_in_the_time(site: Path) -> None:
    first = _two_checkpoints(site)
    write(site / "safepoint.toml", '[hooks]\nafter_restore = ["sleep 1.2"]\n')
    proc = sp("rollback", first, "--yes", "--no-health", cwd=site, check=True)
    assert _seconds(proc.stdout) >= 1.2, proc.stdout
    hook = re.search(r"hook 'sleep 1.2': exit 0 \((\d+\.\d+)s\)", proc.stdout)
    assert hook and 1.2 <= float(hook.group(1)) < 10, proc.stdout


def test_durations_read_right() -> None:
    assert human_duration(0.0) == "<0.01s"
    assert human_duration(0.042) == "0.04s"
    assert human_duration(3.21) == "3.21s"
    assert human_duration(42.3) == "42.3s"
    assert human_duration(125) == "2m05s"
