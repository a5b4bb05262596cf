"""``kill -9`` of the controller in the middle of a fleet rollback (its whole process group: the
command, ansible-playbook and its workers; and web2's own ``safepoint rollback``, caught
mid-switch when the timing allows, as when the one machine they all run on dies): every host
is left at REF, where it was, or mid-rollback with its own journal; ``fleet undo`` puts every
host back, and ``fleet rollback REF`` again finishes the job.

Ansible runs a host's module in a session of its own: killing the controller does not stop a
rollback already running on a host (over SSH neither), which ends on its own; ``fleet undo``
then waits for the repository lock it holds."""

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


def host_rollbacks(root: Path) -> list[int]:
    """The ``safepoint rollback`` processes working on ``root`` (a path only this test uses)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rollback" in argv and os.fsencode(root) in argv:
            pids.append(int(entry.name))
    return pids


def kill_mid_run(fleet: Fleet) -> bool:
    """Start a fleet rollback to v1 and, in web2's batch (web1 rolled back), kill the controller
    (its whole process group: the command, ansible-playbook, its workers) and web2's own
    rollback with it, as when the machine they run on dies: the moment web2's rollback journal
    appears, or else once web2 has reported. True: web2 was left with its journal (a pending
    recovery)."""
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
    state = fleet.roots["web2"] / ".safepoint-state"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if any(state.glob("*/journal.json")):
                # Ansible runs the host's module in a session of its own: kill it by its id.
                for pid in host_rollbacks(fleet.roots["web2"]):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                break
            runs = fleet.runs()
            if runs and (runs[-1] / "rollback-web2.json").exists():
                break
            time.sleep(0.001)
        assert proc.poll() is None, "the fleet rollback ended before it could be killed"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert not (fleet.runs()[-1] / "ended.json").exists()
    return any(state.glob("*/journal.json"))


def assert_each_host_whole(fleet: Fleet, before: dict[str, Any]) -> None:
    """At REF, or where it was, or mid-rollback with a journal its own recover finishes."""
    for host, root in fleet.roots.items():
        status = sp_json("status", cwd=root)
        if status["pending_recovery"] is not None:
            continue
        # by content: killed between its switch and recording its head, the host is at REF
        # although its status does not say so yet
        files = ("app.txt", "health.txt", "templates/home.html")
        at_ref = all("v1" in (root / f).read_text() for f in files)
        assert at_ref or snapshot(root, skip=SKIP) == before[host], (host, status)


def test_kill_then_fleet_undo_puts_every_host_back(fleet: Fleet) -> None:
    before = fleet.snapshots()
    caught = kill_mid_run(fleet)
    assert fleet.versions()["web1"] == "v1"  # the first batch had been rolled back
    assert_each_host_whole(fleet, before)
    if caught:
        assert sp_json("status", cwd=fleet.roots["web2"])["pending_recovery"] is not None
    doc = fleet.fleet_json("undo")
    assert doc["outcome"] == "undone", doc
    assert fleet.snapshots() == before
    assert all(sp_json("status", cwd=r)["pending_recovery"] is None for r in fleet.roots.values())


def test_kill_then_the_same_fleet_rollback_finishes_and_undo_still_knows_the_start(
    fleet: Fleet,
) -> None:
    before = fleet.snapshots()
    v1 = fleet.checkpoint("v1")
    caught = kill_mid_run(fleet)
    assert_each_host_whole(fleet, before)
    if caught:  # the same rollback again recovers web2 first, then finishes the job
        assert sp_json("status", cwd=fleet.roots["web2"])["pending_recovery"] is not None
    doc = fleet.rollback("v1", "--batches", "1,1,100%")
    assert doc["outcome"] == "rolled back"
    assert {h: fleet.at(h) for h in HOSTS} == dict.fromkeys(HOSTS, v1)
    # the interrupted run is closed, and an undo goes back to where the first run found them
    first = fleet.runs()[-2]
    assert (first / "ended.json").exists()
    undone = fleet.fleet_json("undo")
    assert undone["outcome"] == "undone"
    assert fleet.snapshots() == before
