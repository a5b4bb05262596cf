"""``safepoint demo`` end to end, as a newcomer runs it: it must show the whole loop, finish in a
few seconds, and leave no process, listening port or folder behind, also when interrupted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import SAFEPOINT, sp

pytestmark = pytest.mark.slow  # a real server, reloaded three times


def listening_ports() -> set[int]:
    """Ports in LISTEN state on this machine (IPv4 and IPv6)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def processes_in(folder: Path) -> list[int]:
    """Live processes whose working directory or command line is inside ``folder``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{name}/cwd")
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
            with open(f"/proc/{name}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if cwd.startswith(str(folder)) or str(folder) in cmdline:
            found.append(int(name))
    return found


def demo_facts(stdout: str) -> tuple[Path, int]:
    folder = re.search(r"built a site in (\S+):", stdout)
    port = re.search(r"http://127\.0\.0\.1:(\d+)/", stdout)
    assert folder and port, stdout
    return Path(folder.group(1)), int(port.group(1))


def test_demo_runs_the_whole_loop_and_leaves_nothing(tmp_path: Path) -> None:
    before = listening_ports()
    started = time.monotonic()
    proc = sp("demo", cwd=tmp_path, timeout=120)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder, port = demo_facts(proc.stdout)
    assert port not in before
    lines = proc.stdout.splitlines()
    steps = [line for line in lines if re.match(r"\s*\d+\.\d\ds  ", line)]
    assert len(steps) >= 6  # each step with its time
    text = proc.stdout
    assert "known-good" in text
    assert "health checks FAIL" in text and "HTTP 500" in text
    assert "safepoint rollback: back to" in text and text.rstrip().count("HTTP 200") >= 2
    assert elapsed < 20, elapsed  # a few seconds, even on a busy two-core machine
    assert not folder.exists()
    assert port not in listening_ports()
    assert processes_in(folder) == []


def test_demo_in_a_named_folder_keeps_it_and_stops_the_server(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    proc = sp("demo", folder, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _, port = demo_facts(proc.stdout)
    assert (folder / "safepoint.toml").exists()
    assert "kept in" in proc.stdout
    assert port not in listening_ports()
    assert processes_in(folder) == []
    again = sp("demo", folder)
    assert again.returncode == 2 and "not an empty folder" in again.stderr


def test_ctrl_c_during_the_demo_cleans_up(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [SAFEPOINT, "demo"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    try:
        assert proc.stdout is not None
        end = time.monotonic() + 60
        while "started its server" not in seen:
            line = proc.stdout.readline()
            assert line and time.monotonic() < end, seen
            seen += line
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, seen + rest + err
    folder, port = demo_facts(seen)
    assert not folder.exists()
    assert port not in listening_ports()
    assert processes_in(folder) == []
