"""``safepoint fleet rollback`` with real ansible-playbook over four hosts (local connections),
each with its own site root and a real HTTP health check: the healthy run, a second run, a host
that fails its health check in the last batch, and preflight refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.fleetsite import HOSTS, Fleet, four_hosts
from tests.helpers import sp_json

pytestmark = pytest.mark.slow  # ansible-playbook runs, a second or more per step


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with four_hosts(tmp_path) as f:
        yield f


def test_healthy_fleet_rollback_then_a_second_run_changes_nothing(fleet: Fleet) -> None:
    v1, v2 = fleet.checkpoint("v1"), fleet.checkpoint("v2")
    doc = fleet.rollback("v1", "--batches", "1,1,100%")
    assert doc["outcome"] == "rolled back" and doc["target"] == v1
    assert fleet.versions() == dict.fromkeys(HOSTS, "v1")
    assert {h: fleet.at(h) for h in HOSTS} == dict.fromkeys(HOSTS, v1)
    rows = {r["host"]: r for r in doc["hosts"]}
    assert sorted(rows) == sorted(HOSTS)
    for row in rows.values():
        assert row["state"] == "rolled back" and row["error"] is None
        assert (row["before"], row["after"]) == (v2, v1)
        assert row["health"] == "healthy"
        assert isinstance(row["seconds"], float)
        # its own safety checkpoint, holding the tree it left
        safety = sp_json("show", row["safety"], cwd=fleet.roots[row["host"]])
        assert safety["kind"] == "safety"
    # The batches ran in order: web1 alone, then web2 alone, then the rest.
    run = Path(doc["run"])
    finished = {h: (run / f"rollback-{h}.json").stat().st_mtime_ns for h in HOSTS}
    assert finished["web1"] < finished["web2"] < min(finished["web3"], finished["web4"])

    counts = {h: len(sp_json("list", cwd=r)) for h, r in fleet.roots.items()}
    again = fleet.rollback("v1", "--batches", "1,1,100%")
    assert again["outcome"] == "rolled back"
    assert {r["state"] for r in again["hosts"]} == {"ok, already there"}
    assert {h: len(sp_json("list", cwd=r)) for h, r in fleet.roots.items()} == counts

    proc = fleet.fleet("status", "--inventory", str(fleet.inventory), "--json")
    assert proc.returncode == 0, proc.stderr
    status = {r["host"]: r for r in json.loads(proc.stdout)}
    assert {h: s["matches"] for h, s in status.items()} == dict.fromkeys(HOSTS, v1)
    assert all("v1: rolled back" in s["last_rollback"] for s in status.values())


def test_unhealthy_host_in_the_last_batch_puts_the_whole_fleet_back(fleet: Fleet) -> None:
    # web4's health check wants what only v2 serves: v1 fails there, in the last batch.
    fleet.expect("web4", "ok v2")
    v2 = fleet.checkpoint("v2")
    before = fleet.snapshots()
    proc = fleet.fleet(
        "rollback",
        "v1",
        "--inventory",
        str(fleet.inventory),
        "--yes",
        "--batches",
        "1,1,100%",
        "--json",
    )
    assert proc.returncode == 4, (proc.stdout, proc.stderr)
    assert "web4" in proc.stderr and "put back" in proc.stderr
    assert fleet.snapshots() == before  # every tree byte-identical to where it began
    assert fleet.versions() == dict.fromkeys(HOSTS, "v2")
    doc = json.loads(proc.stdout)
    assert doc["outcome"] == "stopped and every host put back"
    rows = {r["host"]: r for r in doc["hosts"]}
    assert rows["web4"]["state"] == "already back"  # its own rollback undid itself
    assert rows["web4"]["health"] == "failed, undone"
    for host in ("web1", "web2", "web3"):
        assert rows[host]["state"] == "put back", rows[host]
        assert rows[host]["health"] == "healthy"  # proven again after going back
        assert rows[host]["after"] == v2

    # A second undo finds every host where it was, and changes nothing.
    again = fleet.fleet_json("undo")
    assert again["outcome"] == "undone"
    assert {r["state"] for r in again["hosts"]} == {"already back"}
    assert fleet.snapshots() == before


def test_preflight_refuses_when_ref_is_missing_or_damaged_and_changes_no_host(
    fleet: Fleet,
) -> None:
    # web3 never had v1; web2's copy of it is damaged.
    sp_json("forget", "v1", cwd=fleet.roots["web3"])
    packs = sorted((fleet.roots["web2"] / ".safepoint").rglob("*.pack"))
    assert packs
    for pack in packs:  # flip a byte in the middle of every pack
        data = bytearray(pack.read_bytes())
        data[len(data) // 2] ^= 0xFF
        pack.write_bytes(bytes(data))
    before = fleet.snapshots()
    doc = fleet.rollback("v1", "--batches", "1,1,100%", code=2)
    assert doc["outcome"] == "refused"
    rows = {r["host"]: r for r in doc["hosts"]}
    assert rows["web3"]["state"] == "refused" and "v1" in rows["web3"]["error"]
    assert rows["web2"]["state"] == "refused" and "verify" in rows["web2"]["error"]
    assert rows["web1"]["state"] == "ready" and rows["web4"]["state"] == "ready"
    assert fleet.snapshots() == before
    assert not list(Path(doc["run"]).glob("before-*.json"))  # no host went past preflight
