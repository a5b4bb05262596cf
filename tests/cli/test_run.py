"""``safepoint run -- CMD`` on a real site served on 127.0.0.1 (tests/guardedsite.py): a change
that breaks the site, a command that fails, a good change, Ctrl-C during a long command, and a
rollback that cannot make the site healthy either."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.guardedsite import GuardedSite, break_command, guarded_site, pid_alive
from tests.helpers import SAFEPOINT, sp, sp_json

pytestmark = pytest.mark.slow  # each reloads a real server and proves it healthy, often twice


@pytest.fixture
def gsite(tmp_path: Path) -> Iterator[GuardedSite]:
    with guarded_site(tmp_path) as site:
        yield site


def checkpoints(root: Path) -> list[dict[str, object]]:
    return sp_json("list", cwd=root)  # type: ignore[no-any-return]


def test_change_that_breaks_the_site_is_rolled_back(gsite: GuardedSite) -> None:
    before = (gsite.root / "app.py").read_text()
    proc = sp("run", "--json", "--", *break_command(sys.executable), cwd=gsite.root)
    assert proc.returncode == 5, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["outcome"] == "rolled back"
    assert doc["health"]["ok"] is False  # the change was proven unhealthy
    assert doc["rollback"]["health"]["ok"] is True  # and the rollback proven healthy
    assert (gsite.root / "app.py").read_text() == before
    assert gsite.status() == 200  # the running server serves the old code again
    assert "was rolled back" in proc.stderr.splitlines()[-1]
    by_id = {c["id"]: c for c in checkpoints(gsite.root)}
    assert by_id[doc["before"]]["label"].startswith("before: ")
    safety = by_id[doc["rollback"]["safety"]]
    assert safety["marks"]["health"] == "bad" and safety["marks"]["health_by"] == "run"
    records = list((gsite.root / ".safepoint" / "rollbacks").glob("*.json"))
    assert [json.loads(r.read_text())["outcome"] for r in records] == ["healthy"]


def test_failing_command_is_rolled_back_without_waiting_for_health(
    gsite: GuardedSite, tmp_path: Path
) -> None:
    # A proof of the broken app would retry for 60 x 0.25 s before failing.
    gsite.set_health(retries=60, interval=0.25, deadline=30)
    command = "; ".join(
        [
            shlex.join(break_command(sys.executable)),
            f"{shlex.quote(sys.executable)} ctl.py restart",  # the broken app is live
            f"curl -s -o /dev/null -w '%{{http_code}}' {gsite.url} > {tmp_path / 'seen'}",
            "echo made > new.txt",
            "exit 1",
        ]
    )
    started = time.monotonic()
    proc = sp("run", "--deadline", "30", "--", command, cwd=gsite.root)
    elapsed = time.monotonic() - started
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "the command failed: exit 1" in proc.stderr
    assert "health after the change" not in proc.stdout  # the broken state was never proven
    assert elapsed < 8, elapsed
    assert (tmp_path / "seen").read_text() == "500"  # the command did break the live app
    assert not (gsite.root / "new.txt").exists()
    assert gsite.status() == 200


def test_good_change_is_checkpointed_known_good(gsite: GuardedSite) -> None:
    proc = sp(
        "run",
        "--label",
        "add page",
        "--note",
        "why",
        "--",
        "sh",
        "-c",
        "echo hi > page.txt",
        cwd=gsite.root,
    )
    assert proc.returncode == 0, proc.stderr
    after, before = checkpoints(gsite.root)[:2]
    assert (before["label"], after["label"]) == ("add page", "after: add page")
    assert before["note"] == "why"
    assert before["kind"] == after["kind"] == "manual"
    assert after["marks"]["health"] == "good" and after["marks"]["health_by"] == "run"
    assert before["files"] + 1 == after["files"]
    assert (gsite.root / "page.txt").exists()


def test_command_output_is_streamed(gsite: GuardedSite) -> None:
    proc = sp("run", "--", "sh", "-c", "echo first line; echo to-stderr >&2", cwd=gsite.root)
    assert proc.returncode == 0, proc.stderr
    assert "first line" in proc.stdout and "to-stderr" in proc.stdout


def test_ctrl_c_stops_the_command_and_rolls_back(gsite: GuardedSite, tmp_path: Path) -> None:
    pidfile = tmp_path / "cmd.pid"
    script = f"echo changed > new.txt; echo $$ > {pidfile}; exec sleep 60"
    proc = subprocess.Popen(
        [SAFEPOINT, "run", "--", script],
        cwd=gsite.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + 20
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert time.monotonic() < end and proc.poll() is None, "the command never started"
            time.sleep(0.05)
        cmd_pid = int(pidfile.read_text())
        assert pid_alive(cmd_pid)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out + err
    assert not pid_alive(cmd_pid)  # the command's whole process group was stopped
    assert time.monotonic() - started < 10
    assert not (gsite.root / "new.txt").exists()
    assert "interrupted" in err and "rolled back" in err
    assert gsite.status() == 200


def test_rollback_that_cannot_heal_exits_6(gsite: GuardedSite) -> None:
    # The outage is outside what checkpoints hold (logs/ is excluded): no rollback fixes it.
    gsite.add_config('\n[[health.command]]\nrun = "test ! -e logs/outage"\n')
    proc = sp("run", "--", "sh", "-c", "touch logs/outage; echo x > new.txt", cwd=gsite.root)
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert "the rollback to checkpoint" in proc.stderr and "failed too" in proc.stderr
    # The rollback was undone: the site is as the change left it.
    assert (gsite.root / "new.txt").exists()
    records = list((gsite.root / ".safepoint" / "rollbacks").glob("*.json"))
    assert [json.loads(r.read_text())["outcome"] for r in records] == ["undone, still failing"]


def test_no_rollback_only_reports(gsite: GuardedSite) -> None:
    proc = sp("run", "--no-rollback", "--", *break_command(sys.executable), cwd=gsite.root)
    assert proc.returncode == 4, proc.stderr
    assert "not rolled back" in proc.stderr
    assert gsite.status() == 500
    assert len(checkpoints(gsite.root)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "latest", "--", "true"], "reserved"),
        (["--label", "", "--", "true"], "empty"),
        (["--note", "a", "--note-file", "b", "--", "true"], "not both"),
        (["--deadline", "0.1", "--", "true"], "--deadline"),
    ],
)
def test_bad_input_changes_nothing(gsite: GuardedSite, args: list[str], message: str) -> None:
    proc = sp("run", *args, cwd=gsite.root)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert checkpoints(gsite.root) == []


def test_run_needs_health_checks(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    sp("init", cwd=root, check=True)
    proc = sp("run", "--", "true", cwd=root)
    assert proc.returncode == 2 and "needs health checks" in proc.stderr
