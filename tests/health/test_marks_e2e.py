"""Known-good and bad marks with a real HTTP app on 127.0.0.1: the app serves what it loaded
from ``state.txt`` in the site when it started or was last reloaded (as a WSGI app serves the
code it imported), and the ``after_restore`` hook reloads it by running the site's own
``reload.sh``. A rollback that had to be undone marks its target bad, and a bare rollback or
guard never goes there again."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from safepoint.ops.site import open_site
from tests.helpers import sp, sp_json, write


class FileApp(ThreadingHTTPServer):
    block_on_close = False

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.loaded = ""
        self.reloads = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reload(self) -> None:
        self.loaded = (self.root / "state.txt").read_text().strip()
        self.reloads += 1


class _Handler(BaseHTTPRequestHandler):
    server: FileApp

    def do_GET(self) -> None:
        healthy = self.server.loaded == "ok"
        body = b"ok" if healthy else f"broken: {self.server.loaded}".encode()
        status = 200 if healthy else 500
        if self.path == "/reload":
            self.server.reload()
            status, body = 200, b"reloaded"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Site:
    root: Path
    app: FileApp

    def write_version(self, state: str, *, reload_works: bool = True) -> None:
        """This version's files: its state, and whether its reload script works."""
        write(self.root / "state.txt", state + "\n")
        if reload_works:
            fetch = f"import urllib.request; urllib.request.urlopen('{self.app.url}/reload')"
            write(self.root / "reload.sh", f'"{sys.executable}" -c "{fetch}"\n')
        else:
            write(self.root / "reload.sh", "echo 'reload: no such process' >&2; exit 1\n")

    def create(self, label: str, *extra: str) -> dict[str, object]:
        doc = sp_json("create", "--label", label, *extra, cwd=self.root)
        assert isinstance(doc, dict)
        return doc

    def marks(self, ref: str) -> dict[str, object]:
        marks = sp_json("show", ref, cwd=self.root)["marks"]
        assert isinstance(marks, dict)
        return marks

    def served(self) -> str:
        return self.app.loaded


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    root = tmp_path / "site"
    app = FileApp(root)
    thread = threading.Thread(target=app.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        s = Site(root, app)
        s.write_version("ok")
        sp("init", cwd=root, check=True)
        (root / "safepoint.toml").write_text(
            '[hooks]\nafter_restore = ["sh reload.sh"]\n'
            "[health]\ntimeout = 2\nretries = 1\ninterval = 0.1\n"
            f'[[health.http]]\nurl = "{app.url}/health"\nstatus = 200\nbody_contains = "ok"\n'
        )
        app.reload()
        yield s
    finally:
        app.shutdown()
        app.server_close()
        thread.join(5)


def mark_good_the_old_way(root: Path, ref: str) -> None:
    """A good mark as an earlier safepoint wrote it (no how, when or where beyond the time):
    such marks, on trees that were never proven, are what the issue met."""
    with open_site(root) as s:
        cid = sp_json("show", ref, cwd=root)["id"]
        (s.repository.marks_dir / f"{cid}.json").write_text(
            json.dumps(
                {"health": "good", "health_at": "2026-11-01T10:00:00+00:00", "pinned": False}
            )
        )


@pytest.mark.slow  # rollbacks, undos and health proofs: 5-8 s
def test_an_undone_rollback_marks_its_target_bad_and_bare_rollback_skips_it(site: Site) -> None:
    site.create("v1", "--verify-health")
    assert site.marks("v1")["health_by"] == "create --verify-health"
    site.write_version("broken-v2")  # not reloaded: the app still serves v1
    site.create("v2")
    mark_good_the_old_way(site.root, "v2")
    assert sp_json("show", "v2", cwd=site.root)["marks"]["health_by"] is None  # read as before
    site.write_version("broken-v3")
    site.app.reload()
    proc = sp("rollback", "--yes", cwd=site.root)  # bare: the newest known-good is v2
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert site.served() == "broken-v3"  # undone: back where it was
    assert "is now marked bad: a bare rollback and guard skip it" in proc.stdout
    marks = site.marks("v2")
    assert marks["health"] == "bad" and marks["health_by"] == "rollback"
    assert "health checks failed" in str(marks["health_reason"])
    assert "status 500" in str(marks["health_reason"])
    proc = sp("rollback", "--yes", cwd=site.root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rolled back to" in proc.stdout and "(v1)" in proc.stdout
    assert site.served() == "ok"
    assert site.marks("v1")["health_by"] == "rollback"  # proven again, by this rollback


@pytest.mark.slow  # rollbacks, undos and health proofs: 5-8 s
def test_a_rollback_undone_because_the_reload_failed_marks_bad_too(site: Site) -> None:
    site.create("v1", "--verify-health")
    site.write_version("ok", reload_works=False)  # the app works; this version cannot reload
    site.create("v2", "--verify-health")
    assert site.marks("v2")["health"] == "good"  # the checks passed: nobody tried a reload
    site.write_version("broken-v3")
    site.app.reload()
    assert sp("rollback", "--yes", cwd=site.root).returncode == 4  # to v2: its hook fails
    marks = site.marks("v2")
    assert marks["health"] == "bad" and marks["health_by"] == "rollback"
    assert "reload: no such process" in str(marks["health_reason"])
    proc = sp("rollback", "--yes", cwd=site.root)  # the old code went to v2 again, and failed
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(v1)" in proc.stdout and site.served() == "ok"


@pytest.mark.slow  # rollbacks, undos and health proofs: 5-8 s
def test_explicit_rollback_to_a_bad_checkpoint_warns_and_goes(site: Site) -> None:
    site.create("v1", "--verify-health")
    site.write_version("broken-v2")
    site.create("v2")
    sp("mark", "v2", "bad", "--reason", "500 on /", cwd=site.root, check=True)
    site.write_version("ok")
    site.app.reload()
    proc = sp("rollback", "v2", "--yes", "--json", cwd=site.root)
    assert proc.returncode == 4  # it is bad indeed; the warning said so
    warnings = json.loads(proc.stdout)["warnings"]
    assert any("v2" in w and "is marked bad (by hand" in w and "500 on /" in w for w in warnings)
    assert "safepoint: warning: checkpoint" in proc.stderr
    assert site.served() == "ok"


@pytest.mark.slow  # rollbacks, undos and health proofs: 5-8 s
def test_guard_never_chooses_a_checkpoint_marked_bad(site: Site) -> None:
    site.create("v1", "--verify-health")
    site.write_version("ok-v2")
    (site.root / "state.txt").write_text("ok\n")  # v2 differs in its files but is healthy
    write(site.root / "extra.txt", "v2\n")
    site.create("v2", "--verify-health")
    assert site.marks("v2")["health"] == "good"
    sp("mark", "v2", "bad", cwd=site.root, check=True)  # an operator knows better
    site.write_version("broken-v3")
    site.app.reload()
    out = sp("guard", "--once", "--failures", "1", cwd=site.root).stdout
    assert "rolling back to known-good checkpoint" in out and "(v1)" in out, out
    assert site.served() == "ok" and not (site.root / "extra.txt").exists()


def test_mark_good_bad_clear_round_trip(site: Site) -> None:
    site.create("v1", "--pin")
    assert site.marks("v1")["health"] is None
    doc = sp_json("mark", "v1", "good", cwd=site.root)
    assert doc["marks"]["health"] == "good" and doc["marks"]["health_by"] == "mark"
    assert doc["marks"]["health_host"] and doc["marks"]["health_at"]
    assert sp_json("show", "good", cwd=site.root)["id"] == doc["id"]
    proc = sp("mark", "v1", "bad", "--reason", "login broken", cwd=site.root, check=True)
    assert "marked bad (by hand, " in proc.stdout and "login broken" in proc.stdout
    marks = site.marks("v1")
    assert marks["health"] == "bad" and marks["health_reason"] == "login broken"
    assert marks["pinned"] is True  # marks beside health are kept
    assert sp("show", "good", cwd=site.root).returncode == 2  # bad replaced good
    assert "bad (hand, " in sp("list", cwd=site.root).stdout
    sp("mark", "v1", "clear", cwd=site.root, check=True)
    marks = site.marks("v1")
    assert marks["health"] is None and marks["health_by"] is None and marks["pinned"] is True
    assert "health: unknown" in sp("show", "v1", cwd=site.root).stdout


def test_mark_bad_input(site: Site) -> None:
    site.create("v1")
    for args, code in (
        (("mark", "nope", "good"), 2),
        (("mark", "v1", "great"), 2),
        (("mark", "v1", "clear", "--reason", "x"), 2),
        (("mark", "v1"), 2),
    ):
        proc = sp(*args, cwd=site.root)
        assert proc.returncode == code, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert site.marks("v1")["health"] is None


def test_mark_takes_the_repository_lock(site: Site) -> None:
    import fcntl
    import os

    site.create("v1")
    fd = os.open(site.root / ".safepoint" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = sp("mark", "v1", "good", cwd=site.root)
        assert proc.returncode == 1 and "locked" in proc.stderr
    finally:
        os.close(fd)
    assert site.marks("v1")["health"] is None


def test_marks_files_of_earlier_and_later_versions_are_read(site: Site) -> None:
    cid = str(site.create("v1")["id"])
    marks_dir = site.root / ".safepoint" / "marks"
    (marks_dir / f"{cid}.json").write_text('{"health": "bad", "health_at": null, "pinned": true}')
    marks = site.marks("v1")
    assert marks["health"] == "bad" and marks["pinned"] is True and marks["health_by"] is None
    assert "health: bad\n" in sp("show", "v1", cwd=site.root).stdout
    (marks_dir / f"{cid}.json").write_text('{"health": "good", "pinned": false, "future": 1}')
    assert site.marks("v1")["health"] == "good"
