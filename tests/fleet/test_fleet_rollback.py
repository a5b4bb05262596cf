"""``safepoint fleet rollback`` with real ansible-playbook over four hosts (local connections),
each with its own site root and a real HTTP health check: the healthy run, a second run, a host
that fails its health check in the last batch, and preflight refusals."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.fleetsite import HOSTS, Fleet, SiteApp, four_hosts, use_repository
from tests.helpers import sp, sp_json, write

pytestmark = pytest.mark.slow  # ansible-playbook runs, a second or more per step


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with four_hosts(tmp_path) as f:
        yield f


def test_healthy_fleet_rollback_then_a_second_run_changes_nothing(fleet: Fleet) -> None:
    v1 = fleet.checkpoint("v1")
    manifest_v2 = sp_json("show", "v2", cwd=fleet.roots["web1"])["manifest"]
    doc = fleet.rollback("v1", "--batches", "1,1,100%")
    assert doc["outcome"] == "rolled back" and doc["target"] == v1
    assert fleet.versions() == dict.fromkeys(HOSTS, "v1")
    assert {h: fleet.at(h) for h in HOSTS} == dict.fromkeys(HOSTS, v1)
    rows = {r["host"]: r for r in doc["hosts"]}
    assert sorted(rows) == sorted(HOSTS)
    for row in rows.values():
        assert row["state"] == "rolled back" and row["error"] is None
        assert row["after"] == v1
        # where the host was: a checkpoint of exactly its tree then (v2's manifest)
        was = sp_json("show", row["before"], cwd=fleet.roots[row["host"]])
        assert was["manifest"] == manifest_v2
        assert row["health"] == "healthy"
        assert isinstance(row["seconds"], float)
        # its own safety checkpoint, holding the tree it left
        safety = sp_json("show", row["safety"], cwd=fleet.roots[row["host"]])
        assert safety["kind"] == "safety"
    # The batches ran in order: web1 alone, then web2 alone, then the rest.
    run = Path(doc["run"])
    finished = {h: (run / f"rollback-{h}.json").stat().st_mtime_ns for h in HOSTS}
    assert finished["web1"] < finished["web2"] < min(finished["web3"], finished["web4"])

    count = len(sp_json("list", cwd=fleet.roots["web1"]))
    again = fleet.rollback("v1", "--batches", "1,1,100%")
    assert again["outcome"] == "rolled back"
    assert {r["state"] for r in again["hosts"]} == {"ok, already there"}
    assert len(sp_json("list", cwd=fleet.roots["web1"])) == count  # not even a safety checkpoint

    proc = fleet.fleet("status", "--inventory", str(fleet.inventory), "--json")
    assert proc.returncode == 0, proc.stderr
    status = {r["host"]: r for r in json.loads(proc.stdout)}
    assert {h: s["matches"] for h, s in status.items()} == dict.fromkeys(HOSTS, v1)
    assert all("v1: rolled back" in s["last_rollback"] for s in status.values())


def test_unhealthy_host_in_the_last_batch_puts_the_whole_fleet_back(fleet: Fleet) -> None:
    # web4's health check wants what only v2 serves: v1 fails there, in the last batch.
    fleet.expect("web4", "ok v2")
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
        assert rows[host]["after"] == rows[host]["before"]

    # A second undo finds every host where it was, and changes nothing.
    again = fleet.fleet_json("undo")
    assert again["outcome"] == "undone"
    assert {r["state"] for r in again["hosts"]} == {"already back"}
    assert fleet.snapshots() == before


def test_a_put_back_keeps_the_mtimes_of_files_touched_since_their_checkpoint(
    fleet: Fleet,
) -> None:
    """web1's app.txt was touched since v2 (same content, a new mtime): ``status`` calls the tree
    clean at v2, but going back to v2 would restamp the file, so the fleet's before step makes
    a checkpoint of the tree as it is."""
    import os

    app = fleet.roots["web1"] / "app.txt"
    os.utime(app, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    fleet.expect("web4", "ok v2")
    before = fleet.snapshots()
    fleet.rollback("v1", "--batches", "1,1,100%", code=4)
    assert fleet.snapshots() == before
    assert app.stat().st_mtime_ns == 1_700_000_000_123_456_789


def test_preflight_refuses_when_ref_differs_is_missing_or_damaged_and_changes_no_host(
    fleet: Fleet, tmp_path: Path
) -> None:
    # web3 uses a repository of its own where "v1" is another checkpoint; web4's has no v1.
    own = {h: fleet.roots[h] / "safepoint.toml" for h in ("web3", "web4")}
    kept = {h: toml.read_text() for h, toml in own.items()}
    for host in own:
        use_repository(fleet.roots[host], tmp_path / f"own-{host}")
        fleet.expect(host, "ok")
    sp("create", "--label", "v1", cwd=fleet.roots["web3"], check=True)
    sp("create", "--label", "v2", cwd=fleet.roots["web4"], check=True)
    before = fleet.snapshots()
    doc = fleet.rollback("v1", "--batches", "1,1,100%", code=2)
    assert doc["outcome"] == "refused"
    rows = {r["host"]: r for r in doc["hosts"]}
    assert rows["web4"]["state"] == "refused" and "v1" in rows["web4"]["error"]
    for host in ("web1", "web2", "web3"):  # each finds a v1, but not the same one
        assert rows[host]["state"] == "refused" and "disagree" in rows[host]["error"]
    assert fleet.snapshots() == before
    assert not list(Path(doc["run"]).glob("before-*.json"))  # no host went past preflight

    # Back on the shared repository, whose packs are damaged: verify fails on every host.
    for host, text in kept.items():
        own[host].write_text(text)
    packs = sorted((tmp_path / "repository").rglob("*.pack"))
    assert packs
    for pack in packs:  # flip a byte in the middle of every pack
        data = bytearray(pack.read_bytes())
        data[len(data) // 2] ^= 0xFF
        pack.write_bytes(bytes(data))
    proc = fleet.fleet(
        "rollback", "v1", "--inventory", str(fleet.inventory), "--yes", "--batches", "1,1,100%"
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "no host was changed" in proc.stderr
    for host in HOSTS:  # the table names every host and why
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(host))
        assert "refused" in line and "verify" in line, line
    assert fleet.snapshots() == before


def test_max_fail_lets_a_run_finish_and_the_load_balancer_check_stops_one(
    fleet: Fleet, tmp_path: Path
) -> None:
    lb_dir = tmp_path / "lb"
    lb_dir.mkdir()
    write(lb_dir / "health.txt", "ok\n")
    lb = SiteApp(lb_dir)  # what the load balancer answers, whichever host serves it
    threading.Thread(target=lb.serve_forever, daemon=True).start()
    try:
        fleet.expect("web4", "ok v2")  # web4 fails on v1 and undoes itself
        doc = fleet.rollback("v1", "--batches", "2,100%", "--max-fail", "1", "--check-url", lb.url)
        assert doc["outcome"] == "rolled back" and "web4" in doc["message"]
        rows = {r["host"]: r for r in doc["hosts"]}
        assert rows["web4"]["state"] == "failed" and rows["web4"]["error"]
        assert fleet.versions() == {"web1": "v1", "web2": "v1", "web3": "v1", "web4": "v2"}

        # The site behind the load balancer fails after the first batch: stop, put it back.
        (lb_dir / "health.txt").unlink()
        before = fleet.snapshots()
        proc = fleet.fleet(
            "rollback",
            "v2",
            "--inventory",
            str(fleet.inventory),
            "--yes",
            "--limit",
            "web1,web2",
            "--batches",
            "1",
            "--check-url",
            lb.url,
        )
        assert proc.returncode == 4, (proc.stdout, proc.stderr)
        assert "fleet check" in proc.stderr
        assert fleet.snapshots() == before
    finally:
        lb.shutdown()
        lb.server_close()


def test_an_undo_that_fails_is_exit_6_and_names_the_host(fleet: Fleet) -> None:
    fleet.expect("web4", "ok v2")  # fails on v1: the run stops in the last batch
    fleet.expect("web2", "ok v1")  # healthy on v1 only: putting it back to v2 fails
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
    assert proc.returncode == 6, (proc.stdout, proc.stderr)
    assert "putting them back failed on web2" in proc.stderr
    doc = json.loads(proc.stdout)
    rows = {r["host"]: r for r in doc["hosts"]}
    assert rows["web2"]["state"] == "undo failed" and rows["web2"]["error"]
    assert {rows[h]["state"] for h in ("web1", "web3")} == {"put back"}
    # web2 stays where it is healthy (its own undo of the failed put-back); the others are back
    assert fleet.versions() == {"web1": "v2", "web2": "v1", "web3": "v2", "web4": "v2"}
