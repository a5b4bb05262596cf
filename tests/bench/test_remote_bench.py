"""The remote benchmark (bench/remote.py): its counting relay against a real HTTP server, the
refusal to compare tools that stored different files, and one run on a tiny site with a real
moto server (and restic on it, when restic is installed)."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bench.test_bench_smoke import make_tiny_site
from tests.helpers import serving

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # the runners import each other as scripts in bench/ do

import remote  # noqa: E402
from timing import Timer  # noqa: E402
from wire import Traffic, counting_relay  # noqa: E402

BODY = os.urandom(300_000)


@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url


def test_relay_counts_both_ways(http_server: str) -> None:
    with counting_relay(http_server) as relay:
        with urllib.request.urlopen(f"{relay.endpoint}/x", timeout=10) as resp:
            assert resp.read() == BODY  # relayed unchanged
        got = relay.traffic()
        assert len(BODY) < got.down < len(BODY) + 1000  # the body plus response headers
        assert 0 < got.up < 1000  # one GET request
        upload = urllib.request.Request(f"{relay.endpoint}/y", data=BODY[:123_456], method="PUT")
        with urllib.request.urlopen(upload, timeout=10):
            pass
        second = relay.traffic() - got
        assert 123_456 < second.up < 123_456 + 1000
        assert 0 < second.down < 1000


def test_ratios_withheld_when_file_sets_differ(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_tiny_site(site)
    bench = remote.RemoteBench(site, "safepoint", Timer(cold=False), restic=True)
    sample = remote.Sample(1.0, 1024, Traffic(10, 20), None, None)
    for side in remote.SIDES:
        bench.record("create", side, sample)
    files = bench.expected.files
    bench.stored_files = {"sp-s3": files, "sp-local": files, "restic-s3": files + 1}
    assert bench.comparable()  # one file apart is a handful
    assert "time 1.000" in "\n".join(bench.table())
    bench.stored_files["restic-s3"] = files + remote.HANDFUL + 1
    assert not bench.comparable()
    restic_row = next(line for line in bench.table() if "| restic, S3 |" in line)
    assert "withheld" in restic_row and "time" not in restic_row


@pytest.mark.slow  # moto, safepoint and restic as subprocesses: about 30 s
def test_remote_bench_on_a_tiny_site(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_tiny_site(site)
    before = sorted(p.relative_to(site) for p in site.rglob("*"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [sys.executable, str(BENCH / "remote.py"), "--site", str(site), "--runs", "1"],
        capture_output=True, text=True, timeout=240, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    restic = shutil.which("restic") is not None
    assert "same file set" in out, out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| ")]
    tools = {(op.strip() or None, tool.strip()) for _, op, tool, *_ in rows}
    seen = {tool for _, tool in tools}
    assert {"safepoint, S3", "safepoint, local"} <= seen
    assert ("restic, S3" in seen) == restic, out
    assert len(rows) == 1 + 5 * (2 + restic) - 1, out  # header; rows 1-4 for 2-3 tools, 5 for S3
    create = next(r for r in rows if r[1].strip().startswith("1 first"))
    sent = create[4].strip()
    assert sent.endswith(("kB", "MB")) and float(sent.split()[0]) > 0, create
    assert sorted(p.relative_to(site) for p in site.rglob("*")) == before  # only read
