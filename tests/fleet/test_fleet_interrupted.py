"""``kill -9`` of the controller in the middle of a fleet rollback (the whole process group: the
command, ansible-playbook, and the local hosts' module runs with it, as when the controller's
machine dies): every host is left at REF, where it was, or mid-rollback with its own journal;
``fleet undo`` puts every host back, and ``fleet rollback REF`` again finishes the job."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.fleetsite import HOSTS, SKIP, Fleet, four_hosts
from tests.helpers import SAFEPOINT, snapshot, sp_json

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with four_hosts(tmp_path) as f:
        yield f


def kill_mid_run(fleet: Fleet) -> None:
    """Start a fleet rollback to v1 and kill its whole process group once web2's batch has
    begun (web1 rolled back, web2's place recorded)."""
    env = {k: v for k, v in os.environ.items() if k != "SAFEPOINT_ROOT"}
    env.update(fleet.env)
    argv = [SAFEPOINT, "fleet", "rollback", "v1", "--inventory", str(fleet.inventory), "--yes"]
    proc = subprocess.Popen(
        [*argv, "--batches", "1,1,100%"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            runs = fleet.runs()
            if runs and (runs[-1] / "before-web2.json").exists():
                time.sleep(0.3)  # into web2's rollback
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the fleet rollback ended before it could be killed"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert not (fleet.runs()[-1] / "ended.json").exists()


def assert_each_host_whole(fleet: Fleet, before: dict[str, Any]) -> None:
    """At REF, or where it was, or mid-rollback with a journal its own recover finishes."""
    for host, root in fleet.roots.items():
        status = sp_json("status", cwd=root)
        if status["pending_recovery"] is not None:
            continue
        at_ref = (root / "app.txt").read_text() == "v1\n" and status["clean"]
        assert at_ref or snapshot(root, skip=SKIP) == before[host], host


def test_kill_then_fleet_undo_puts_every_host_back(fleet: Fleet) -> None:
    before = fleet.snapshots()
    kill_mid_run(fleet)
    assert fleet.versions()["web1"] == "v1"  # the first batch had been rolled back
    assert_each_host_whole(fleet, before)
    doc = fleet.fleet_json("undo")
    assert doc["outcome"] == "undone", doc
    assert fleet.snapshots() == before
    assert all(sp_json("status", cwd=r)["pending_recovery"] is None for r in fleet.roots.values())


def test_kill_then_the_same_fleet_rollback_finishes_and_undo_still_knows_the_start(
    fleet: Fleet,
) -> None:
    before = fleet.snapshots()
    v1 = fleet.checkpoint("v1")
    kill_mid_run(fleet)
    assert_each_host_whole(fleet, before)
    doc = fleet.rollback("v1", "--batches", "1,1,100%")
    assert doc["outcome"] == "rolled back"
    assert {h: fleet.at(h) for h in HOSTS} == dict.fromkeys(HOSTS, v1)
    # the interrupted run is closed, and an undo goes back to where the first run found them
    first = fleet.runs()[-2]
    assert (first / "ended.json").exists()
    undone = fleet.fleet_json("undo")
    assert undone["outcome"] == "undone"
    assert fleet.snapshots() == before
