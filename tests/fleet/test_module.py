"""The ``safepoint.fleet.safepoint`` module on its own, run by real ``ansible`` (ad hoc, local
connection): check mode changes nothing, a rollback to where the host is reports ok, and a
failure carries safepoint's exit code and message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from safepoint.fleet.playbook import CALLBACK, COLLECTIONS_PATH, RESULTS_ENV
from tests.fleet.fleetsite import SKIP, controller_env, make_inventory
from tests.helpers import snapshot, sp, sp_json, write

pytestmark = pytest.mark.slow  # an ansible start per call

ANSIBLE = str(Path(sys.executable).with_name("ansible"))


def module(tmp_path: Path, inventory: Path, args: str, *more: str) -> dict[str, Any]:
    """The module's result for web1, as the collection's results callback wrote it."""
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)
    for old in results.iterdir():
        old.unlink()
    env = {k: v for k, v in os.environ.items() if k != "SAFEPOINT_ROOT"}
    env.update(controller_env(tmp_path))
    env.update(
        {
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",  # ad hoc runs load none unless told
            "ANSIBLE_CALLBACKS_ENABLED": CALLBACK,
            RESULTS_ENV: str(results),
        }
    )
    args += " root={{ safepoint_root }} executable={{ safepoint_executable }}"
    argv = [ANSIBLE, "web1", "-i", str(inventory), "-m", "safepoint.fleet.safepoint", "-a", args]
    proc = subprocess.run(
        [*argv, *more], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    written = list(results.glob("*-web1.json"))
    assert len(written) == 1, (proc.stdout, proc.stderr)
    result = json.loads(written[0].read_text())
    assert isinstance(result, dict)
    return result


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "site"
    write(root / "app.txt", "v1\n")
    sp("init", cwd=root, check=True)
    sp("create", "--label", "v1", cwd=root, check=True)
    write(root / "app.txt", "v2\n")
    sp("create", "--label", "v2", cwd=root, check=True)
    return root, make_inventory(tmp_path / "inventory.ini", {"web1": root})


def test_check_mode_is_a_dry_run(site: tuple[Path, Path], tmp_path: Path) -> None:
    root, inventory = site
    before = snapshot(root, skip=(*SKIP, ".safepoint"))
    count = len(sp_json("list", cwd=root))
    result = module(tmp_path, inventory, "command=rollback ref=v1", "--check")
    assert result["state"] == "changed"
    assert result["result"]["dry_run"] is True and result["result"]["written"] == 1
    assert snapshot(root, skip=(*SKIP, ".safepoint")) == before
    assert len(sp_json("list", cwd=root)) == count  # not even a safety checkpoint


def test_rollback_is_idempotent(site: tuple[Path, Path], tmp_path: Path) -> None:
    root, inventory = site
    first = module(tmp_path, inventory, "command=rollback ref=v1")
    assert first["changed"] is True and first["result"]["safety"]
    assert (root / "app.txt").read_text() == "v1\n"
    again = module(tmp_path, inventory, "command=rollback ref=v1")
    assert again["changed"] is False and again["result"]["already"] is True


def test_a_failure_carries_safepoints_exit_code_and_message(
    site: tuple[Path, Path], tmp_path: Path
) -> None:
    _, inventory = site
    result = module(tmp_path, inventory, "command=show ref=nosuchlabel")
    assert result["state"] == "failed"
    assert result["exit_code"] == 2
    assert "nosuchlabel" in result["msg"] and result["msg"].startswith("safepoint: ")


def test_a_host_without_safepoint_fails_with_a_clear_message(
    site: tuple[Path, Path], tmp_path: Path
) -> None:
    _, inventory = site
    text = inventory.read_text().replace("safepoint_executable=", "safepoint_executable=/nope")
    inventory.write_text(text)
    result = module(tmp_path, inventory, "command=status")
    assert result["state"] == "failed" and result["exit_code"] == 127
    assert "not found on the host" in result["msg"]
