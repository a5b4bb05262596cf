"""Issue 11, item 1, as the user met it: the reload hook (``kill -HUP``) returns at once, and the
old workers keep answering with the previous code until the new ones have booted. A health
check that takes the first 200 as proof passes on the old code, marks a broken checkpoint
known-good and exits 0; seconds later the site answers 500.

The app here is a real HTTP server on 127.0.0.1 whose reload behaves as gunicorn's does for a
slow-booting app: a reload request returns at once, and the code it loaded (``state.txt``)
takes over only ``BOOT`` seconds later. The settle window (2 s by default) must see that."""

from __future__ import annotations

import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import sp, sp_json, write

pytestmark = pytest.mark.slow  # each rollback waits out slow boots and settle windows: ~10 s

BOOT = 1.5  # seconds between the reload and the new code answering


class SlowBootApp(ThreadingHTTPServer):
    block_on_close = False
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.serving = (root / "state.txt").read_text().strip()
        self._timer: threading.Timer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reload(self) -> None:
        """Like a HUP: the new code is read now and answers after BOOT seconds."""
        loaded = (self.root / "state.txt").read_text().strip()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(BOOT, lambda: setattr(self, "serving", loaded))
        self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: SlowBootApp

    def do_GET(self) -> None:
        if self.path == "/reload":
            self.server.reload()
            status, body = 200, b"reloading"
        elif self.server.serving == "ok":
            status, body = 200, b"ok"
        else:
            status, body = 500, f"broken: {self.server.serving}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def app(tmp_path: Path) -> Iterator[SlowBootApp]:
    root = tmp_path / "site"
    write(root / "state.txt", "ok\n")
    write(root / "views.py", "def home(): return 'v1'\n")
    server = SlowBootApp(root)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fetch = f"import urllib.request; urllib.request.urlopen('{server.url}/reload')"
    write(root / "reload.sh", f'"{sys.executable}" -c "{fetch}"\n')
    sp("init", cwd=root, check=True)
    # The defaults of [health] (settle 2 s included), as a user who only set the check has.
    (root / "safepoint.toml").write_text(
        '[hooks]\nafter_restore = ["sh reload.sh"]\n'
        f'[[health.http]]\nurl = "{server.url}/"\nbody_contains = "ok"\n'
    )
    try:
        yield server
    finally:
        server.stop()
        thread.join(5)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_rollbacks_to_a_broken_checkpoint_are_undone_though_old_workers_answer_ok(
    app: SlowBootApp,
) -> None:
    root = app.root
    sp("create", "--label", "stable", cwd=root, check=True)
    write(root / "state.txt", "broken\n")
    write(root / "views.py", "def home(): raise RuntimeError\n")
    broken = sp_json("create", "--label", "broken-release", cwd=root)["id"]
    write(root / "state.txt", "ok\n")
    write(root / "views.py", "def home(): return 'v3'\n")
    sp("create", "--label", "v3", cwd=root, check=True)
    for attempt in range(3):
        started = time.monotonic()
        proc = sp("rollback", broken, "--yes", cwd=root)
        assert proc.returncode == 4, (attempt, proc.stdout, proc.stderr)
        assert "settle" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        assert time.monotonic() - started < 30
        assert (root / "state.txt").read_text() == "ok\n"  # the files were put back
        assert _status(app.url + "/") == 200  # and the app serves them again
        marks = sp_json("show", broken, cwd=root)["marks"]
        assert marks["health"] == "bad", marks


def test_a_rollback_to_a_good_checkpoint_stays_healthy_afterwards(app: SlowBootApp) -> None:
    root = app.root
    good = sp_json("create", "--label", "stable", cwd=root)["id"]
    write(root / "views.py", "def home(): return 'v2'\n")
    sp("create", "--label", "v2", cwd=root, check=True)
    proc = sp("rollback", good, "--yes", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    until = time.monotonic() + 5
    while time.monotonic() < until:
        assert _status(app.url + "/") == 200
        time.sleep(0.1)
