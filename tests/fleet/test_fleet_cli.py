"""``safepoint fleet``'s bad input (one line, exit 2, nothing run), and the shipped collection:
installable with ansible-galaxy from the printed path, its module documented for ansible-doc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fleet.fleetsite import controller_env
from tests.helpers import assert_one_line_error, on_terminal, sp

BIN = Path(sys.executable).parent


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return controller_env(tmp_path)


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.ini"
    path.write_text("[web]\nweb1 ansible_connection=local\n")
    return path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--batches", "0"], "--batches"),
        (["--batches", "1,150%"], "--batches"),
        (["--batches", "1,,2"], "--batches"),
        (["--max-fail", "-1"], "--max-fail"),
        (["--migrate", "--with-db"], "exclude"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(
    args: list[str], words: str, inventory: Path, env: dict[str, str], tmp_path: Path
) -> None:
    proc = sp("fleet", "rollback", "v1", "--inventory", inventory, "--yes", *args, env=env)
    assert_one_line_error(proc, 2)
    assert words in proc.stderr
    assert not (tmp_path / "state").exists()  # no run was journalled


def test_a_missing_inventory_and_no_confirmation_are_usage_errors(
    tmp_path: Path, inventory: Path, env: dict[str, str]
) -> None:
    proc = sp("fleet", "rollback", "v1", "--inventory", tmp_path / "nope.ini", "--yes", env=env)
    assert_one_line_error(proc, 2)
    assert "nope.ini" in proc.stderr
    proc = sp("fleet", "rollback", "v1", "--inventory", inventory, "--json", env=env)
    assert_one_line_error(proc, 2)
    assert "--yes" in proc.stderr
    assert json.loads(proc.stdout)["exit_code"] == 2
    assert not (tmp_path / "state").exists()


def test_on_a_terminal_no_stops_the_run_before_it_starts(
    inventory: Path, env: dict[str, str], tmp_path: Path
) -> None:
    proc = on_terminal("fleet", "rollback", "v1", "-i", inventory, answer="n\n", env=env)
    assert "Roll back every host of" in proc.stdout
    assert_one_line_error(proc, 2)
    assert "aborted; nothing was changed" in proc.stderr
    assert not (tmp_path / "state").exists()  # no run was journalled


@pytest.mark.slow  # one ansible-playbook start
def test_on_a_terminal_yes_starts_the_run(
    inventory: Path, env: dict[str, str], tmp_path: Path
) -> None:
    argv = ["fleet", "rollback", "v1", "-i", inventory, "--limit", "nosuch"]
    proc = on_terminal(*argv, answer="y\n", env=env)
    assert "Roll back every host of" in proc.stdout
    assert_one_line_error(proc, 1)  # the run started, and found no host to check
    assert "before any host was checked" in proc.stderr
    assert len(list((tmp_path / "state" / "runs").iterdir())) == 1


def test_undo_without_any_fleet_run_says_so(env: dict[str, str]) -> None:
    proc = sp("fleet", "undo", env=env)
    assert_one_line_error(proc, 2)
    assert "no fleet run" in proc.stderr


@pytest.mark.slow  # ansible-galaxy and ansible-doc start, a few seconds
def test_the_collection_installs_into_ones_own_ansible(tmp_path: Path) -> None:
    path = sp("fleet", "collection-path", check=True).stdout.strip()
    assert (Path(path) / "galaxy.yml").is_file()
    target = tmp_path / "collections"
    env = {**os.environ, "ANSIBLE_LOCAL_TEMP": str(tmp_path)}
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "install", path, "-p", target],
        check=True,
        capture_output=True,
        timeout=120,
        env=env,
    )
    installed = target / "ansible_collections" / "safepoint" / "fleet"
    assert (installed / "plugins" / "modules" / "safepoint.py").is_file()
    assert (installed / "playbooks" / "rollback.yml").is_file()
    doc = subprocess.run(
        [BIN / "ansible-doc", "--json", "-t", "module", "safepoint.fleet.safepoint"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "ANSIBLE_COLLECTIONS_PATH": str(target)},
    )
    assert doc.returncode == 0, doc.stderr
    options = json.loads(doc.stdout)["safepoint.fleet.safepoint"]["doc"]["options"]
    assert {"command", "ref", "root", "executable", "lock_wait"} <= set(options)


@pytest.mark.slow  # one ansible-playbook start
def test_a_limit_that_matches_no_host_fails_in_one_line_and_ends_the_run(
    inventory: Path, env: dict[str, str], tmp_path: Path
) -> None:
    argv = ["fleet", "rollback", "v1", "--inventory", inventory, "--yes", "--limit", "nosuch"]
    proc = sp(*argv, env=env)
    assert_one_line_error(proc, 1)
    assert "before any host was checked" in proc.stderr
    runs = list((tmp_path / "state" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "ended.json").is_file()  # not taken for interrupted
