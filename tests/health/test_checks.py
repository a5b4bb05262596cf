"""Health checks against a real HTTP server on 127.0.0.1 and real shell commands."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from safepoint.config import CommandCheck, HealthConfig, HttpCheck
from safepoint.health import CheckResult, HealthReport, probe, run_checks


@dataclass
class Behaviour:
    """What the test server answers; tests change it while the server runs."""

    status: int = 200
    body: bytes = b'{"status": "ok"}'
    delay: float = 0.0
    unhealthy_requests: int = 0
    """The first this-many requests get 503, as from an app still starting."""
    fail_after: int | None = None
    """Requests after this many get 500, as from new workers replacing healthy old ones."""
    requests: list[float] = field(default_factory=list)
    """monotonic() of each request's arrival."""
    released: threading.Event = field(default_factory=threading.Event)


class AppServer(ThreadingHTTPServer):
    # Handlers still sleeping when a test ends must not hold up server_close().
    block_on_close = False

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.behaviour = behaviour

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and went away is what some tests are about


class Handler(BaseHTTPRequestHandler):
    server: AppServer

    def do_GET(self) -> None:
        b = self.server.behaviour
        b.requests.append(time.monotonic())
        if b.delay:
            b.released.wait(b.delay)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/health")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, body = b.status, b.body
        if len(b.requests) <= b.unhealthy_requests:
            status, body = 503, b"starting"
        if b.fail_after is not None and len(b.requests) > b.fail_after:
            status, body = 500, b"broken"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def app() -> Iterator[tuple[AppServer, Behaviour]]:
    behaviour = Behaviour()
    server = AppServer(behaviour)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server, behaviour
    finally:
        behaviour.released.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A port that is bound but not listening: connecting to it is refused, and nothing else
    can take the port while the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api/health/"


def health(*checks: HttpCheck | CommandCheck, **settings: float) -> HealthConfig:
    settings.setdefault("timeout", 0.5)
    settings.setdefault("retries", 1)
    settings.setdefault("interval", 0.01)
    settings.setdefault("settle", 0.0)
    return HealthConfig(
        http=tuple(c for c in checks if isinstance(c, HttpCheck)),
        command=tuple(c for c in checks if isinstance(c, CommandCheck)),
        **settings,  # type: ignore[arg-type]
    )


def only(report: HealthReport) -> CheckResult:
    assert len(report.results) == 1
    return report.results[0]


# --- HTTP ----------------------------------------------------------------------------------


def test_http_pass(app: tuple[AppServer, Behaviour], tmp_path: Path) -> None:
    server, _ = app
    url = f"{server.url}/api/health/"
    report = run_checks(health(HttpCheck(url, 200, "ok")), root=tmp_path)
    assert report.ok and report.configured
    result = only(report)
    assert result == CheckResult(url, "http", True, 1, result.latency, "200 OK")
    assert result.latency is not None and 0 < result.latency < 0.5


def test_http_wrong_status(app: tuple[AppServer, Behaviour], tmp_path: Path) -> None:
    server, behaviour = app
    behaviour.status = 500
    report = run_checks(health(HttpCheck(server.url)), root=tmp_path)
    assert not report.ok
    assert only(report).detail == "status 500, expected 200"


def test_http_expected_error_status_passes(
    app: tuple[AppServer, Behaviour], tmp_path: Path
) -> None:
    server, behaviour = app
    behaviour.status = 404
    result = only(run_checks(health(HttpCheck(server.url, status=404)), root=tmp_path))
    assert result.ok and result.detail == "404 Not Found"


def test_http_wrong_body(app: tuple[AppServer, Behaviour], tmp_path: Path) -> None:
    server, behaviour = app
    behaviour.body = b'{"status": "degraded"}'
    result = only(run_checks(health(HttpCheck(server.url, body_contains='"ok"')), root=tmp_path))
    assert not result.ok
    assert result.detail == "body does not contain '\"ok\"'"


def test_http_body_read_is_bounded(app: tuple[AppServer, Behaviour], tmp_path: Path) -> None:
    server, behaviour = app
    behaviour.body = b"x" * (3 * 1024 * 1024) + b"ok"
    result = only(run_checks(health(HttpCheck(server.url, body_contains="ok")), root=tmp_path))
    assert not result.ok
    assert result.detail == "body does not contain 'ok' (in the first 1024 KiB)"


def test_http_redirect_is_followed_and_final_status_compared(
    app: tuple[AppServer, Behaviour], tmp_path: Path
) -> None:
    server, _ = app
    result = only(run_checks(health(HttpCheck(f"{server.url}/redirect", 200)), root=tmp_path))
    assert result.ok
    assert len(app[1].requests) == 2


def test_http_timeout(app: tuple[AppServer, Behaviour], tmp_path: Path) -> None:
    server, behaviour = app
    behaviour.delay = 5
    started = time.monotonic()
    result = only(run_checks(health(HttpCheck(server.url), timeout=0.3), root=tmp_path))
    elapsed = time.monotonic() - started
    assert not result.ok
    assert result.detail == "timed out after 0.3s"
    assert 0.3 <= elapsed < 3  # not the 5 s the app takes (loose: tests run in parallel)


def test_http_connection_refused(refused_url: str, tmp_path: Path) -> None:
    result = only(run_checks(health(HttpCheck(refused_url)), root=tmp_path))
    assert not result.ok
    assert result.detail == "connection refused"


def test_http_invalid_url(tmp_path: Path) -> None:
    result = only(run_checks(health(HttpCheck("127.0.0.1:8000/health")), root=tmp_path))
    assert not result.ok
    assert result.detail == "invalid URL: expected http://host[:port]/path or https://..."


def test_retries_until_the_app_becomes_healthy(
    app: tuple[AppServer, Behaviour], tmp_path: Path
) -> None:
    server, behaviour = app
    behaviour.unhealthy_requests = 2
    seen: list[CheckResult] = []
    report = run_checks(
        health(HttpCheck(server.url), retries=5, interval=0.05),
        root=tmp_path,
        on_attempt=lambda a: seen.append(a.result),
    )
    assert report.ok
    assert only(report).attempts == 3
    assert [(r.attempts, r.ok, r.detail) for r in seen] == [
        (1, False, "status 503, expected 200"),
        (2, False, "status 503, expected 200"),
        (3, True, "200 OK"),
    ]


def test_retries_exhausted_reports_the_last_failure(
    app: tuple[AppServer, Behaviour], tmp_path: Path
) -> None:
    server, behaviour = app
    behaviour.unhealthy_requests = 10
    result = only(run_checks(health(HttpCheck(server.url), retries=3), root=tmp_path))
    assert (result.ok, result.attempts, result.detail) == (False, 3, "status 503, expected 200")
    assert len(behaviour.requests) == 3


def test_interval_between_attempts(app: tuple[AppServer, Behaviour], tmp_path: Path) -> None:
    server, behaviour = app
    behaviour.status = 500
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        time.sleep(seconds)

    run_checks(health(HttpCheck(server.url), retries=3, interval=0.2), root=tmp_path, sleep=sleep)
    assert pauses == [0.2, 0.2]  # between attempts, not after the last one
    gaps = [b - a for a, b in zip(behaviour.requests, behaviour.requests[1:], strict=False)]
    assert len(gaps) == 2 and all(gap >= 0.2 for gap in gaps)


def test_probe_tries_once(app: tuple[AppServer, Behaviour], tmp_path: Path) -> None:
    server, behaviour = app
    behaviour.status = 500
    report = probe(health(HttpCheck(server.url), retries=10, interval=5), root=tmp_path)
    assert only(report).attempts == 1 and not report.ok
    assert len(behaviour.requests) == 1


# --- commands ------------------------------------------------------------------------------


def test_command_pass_runs_in_the_root(tmp_path: Path) -> None:
    (tmp_path / "marker").write_text("here")
    result = only(run_checks(health(CommandCheck("test -f marker")), root=tmp_path))
    assert result.ok and result.detail == "exit 0" and result.kind == "command"


def test_command_fail_reports_exit_code_and_last_line(tmp_path: Path) -> None:
    check = CommandCheck("echo checking; echo 'first' >&2; echo 'System check failed' >&2; exit 3")
    result = only(run_checks(health(check), root=tmp_path))
    assert not result.ok
    assert result.detail == "exit 3: System check failed"


def test_command_fail_falls_back_to_stdout(tmp_path: Path) -> None:
    result = only(run_checks(health(CommandCheck("echo 'not ready'; false")), root=tmp_path))
    assert result.detail == "exit 1: not ready"


def test_command_not_found(tmp_path: Path) -> None:
    result = only(run_checks(health(CommandCheck("no-such-command-xyz")), root=tmp_path))
    assert not result.ok
    assert result.detail.startswith("exit 127: ") and "not found" in result.detail


def test_command_in_missing_root(tmp_path: Path) -> None:
    result = only(run_checks(health(CommandCheck("true")), root=tmp_path / "gone"))
    assert not result.ok and result.latency is None
    assert result.detail.startswith("cannot run: ")


def test_command_hang_is_killed_with_its_children(
    tmp_path: Path, assert_gone: Callable[[int], None]
) -> None:
    pid_file = tmp_path / "child.pid"
    check = CommandCheck("sleep 100 & echo $! > child.pid; wait")
    started = time.monotonic()
    result = only(run_checks(health(check, timeout=0.5), root=tmp_path))
    elapsed = time.monotonic() - started
    assert not result.ok
    assert result.detail == "timed out after 0.5s"
    assert elapsed < 10  # not the 100 s the command sleeps
    assert_gone(int(pid_file.read_text()))


def test_command_ignoring_sigterm_is_killed(
    tmp_path: Path, assert_gone: Callable[[int], None]
) -> None:
    pid_file = tmp_path / "child.pid"
    check = CommandCheck("trap '' TERM; sleep 100 & echo $! > child.pid; wait")
    started = time.monotonic()
    result = only(run_checks(health(check, timeout=0.3), root=tmp_path))
    assert time.monotonic() - started < 10  # not the 100 s the command sleeps
    assert result.detail == "timed out after 0.3s"
    assert_gone(int(pid_file.read_text()))


def test_command_leaves_no_background_process(
    tmp_path: Path, assert_gone: Callable[[int], None]
) -> None:
    check = CommandCheck("sleep 100 > /dev/null 2>&1 & echo $! > child.pid")
    result = only(run_checks(health(check), root=tmp_path))
    assert result.ok
    assert_gone(int((tmp_path / "child.pid").read_text()))


# --- the report ----------------------------------------------------------------------------


def test_checks_run_concurrently_and_keep_config_order(
    app: tuple[AppServer, Behaviour], tmp_path: Path
) -> None:
    server, behaviour = app
    behaviour.delay = 1
    config = health(
        HttpCheck(f"{server.url}/a"),
        HttpCheck(f"{server.url}/b"),
        CommandCheck("sleep 1"),
        CommandCheck("exit 2"),
        timeout=5,
    )
    started = time.monotonic()
    report = run_checks(config, root=tmp_path)
    # The slowest check, not the sum (3 s); seconds apart, so that a busy machine (tests in
    # parallel) cannot blur the two.
    assert time.monotonic() - started < 2.5
    assert [r.name for r in report.results] == [
        f"{server.url}/a",
        f"{server.url}/b",
        "sleep 1",
        "exit 2",
    ]
    assert [r.ok for r in report.results] == [True, True, True, False]
    assert not report.ok
    assert report.summary() == "1 of 4 health checks failed: exit 2: exit 2"


def test_empty_report(tmp_path: Path) -> None:
    report = run_checks(HealthConfig(), root=tmp_path)
    assert report.ok and not report.configured
    assert report.to_json() == {"ok": True, "configured": False, "checks": []}
    assert report.summary() == "no health checks configured"


def test_report_json(app: tuple[AppServer, Behaviour], tmp_path: Path) -> None:
    server, _ = app
    report = run_checks(health(HttpCheck(server.url), CommandCheck("true")), root=tmp_path)
    data = report.to_json()
    assert data["ok"] is True and data["configured"] is True
    assert [(c["name"], c["kind"], c["ok"], c["attempts"]) for c in data["checks"]] == [
        (server.url, "http", True, 1),
        ("true", "command", True, 1),
    ]
    assert all(isinstance(c["latency"], float) for c in data["checks"])


# --- settle window and deadline ------------------------------------------------------------


def test_settle_window_keeps_polling_after_the_first_pass(
    app: tuple[AppServer, Behaviour], tmp_path: Path
) -> None:
    server, behaviour = app
    behaviour.unhealthy_requests = 1
    seen: list[tuple[int, bool, float | None]] = []
    started = time.monotonic()
    report = run_checks(
        health(HttpCheck(server.url), retries=5, interval=0.1, settle=0.5),
        root=tmp_path,
        on_attempt=lambda a: seen.append((a.result.attempts, a.result.ok, a.settling)),
    )
    took = time.monotonic() - started
    assert report.ok
    assert seen[0][:2] == (1, False) and seen[1] == (2, True, None)  # retried until it passed
    settling = [s for _, _, s in seen[2:]]
    # About 5 polls 0.1 s apart on an idle machine; at least 2 however busy it is (tests run
    # in parallel), which is what shows it kept polling.
    assert len(settling) >= 2 and all(s is not None for s in settling)
    assert settling[-1] is not None and settling[-1] >= 0.5  # the last poll ends the window
    assert 0.5 <= took < 5


def test_a_failure_inside_the_settle_window_fails_the_check(
    app: tuple[AppServer, Behaviour], tmp_path: Path
) -> None:
    server, behaviour = app
    behaviour.fail_after = 1  # passes once, as an old worker would, then the new code fails
    result = only(
        run_checks(health(HttpCheck(server.url), retries=10, interval=0.1, settle=1), root=tmp_path)
    )
    assert not result.ok
    assert "passed, then failed" in result.detail and "settle window" in result.detail
    assert "status 500" in result.detail
    assert len(behaviour.requests) == 2  # no retries once it had passed


def test_deadline_bounds_the_whole_proof(tmp_path: Path, refused_url: str) -> None:
    check = CommandCheck("sleep 0.3; exit 1")
    started = time.monotonic()
    result = only(
        run_checks(
            health(check, retries=1000, interval=0.1, timeout=5, settle=0.5, deadline=2),
            root=tmp_path,
        )
    )
    took = time.monotonic() - started
    assert not result.ok and "deadline 2s reached" in result.detail
    assert took < 2.5, took  # the first pass had to come by deadline - settle
    assert 2 <= result.attempts < 10


def test_abort_stops_retrying_at_once(app: tuple[AppServer, Behaviour], tmp_path: Path) -> None:
    server, behaviour = app
    behaviour.status = 503
    calls: list[int] = []

    def abort() -> str | None:
        calls.append(1)
        return "the gunicorn master 1 exited" if len(calls) >= 2 else None

    result = only(
        run_checks(
            health(HttpCheck(server.url), retries=50, interval=0.01), root=tmp_path, abort=abort
        )
    )
    assert not result.ok and "the gunicorn master 1 exited" in result.detail
    assert result.attempts == 2
