"""The configured health checks: is the site serving, as the operator defined "serving"?

A check is an HTTP request (expected status, optionally a substring of the body) or a shell
command (healthy on exit 0). Each check is tried up to ``retries`` times, ``interval`` seconds
apart, every attempt limited to ``timeout`` seconds, until one attempt passes: a restarted app
needs a moment before it answers, and a rollback must not be undone because the first request
arrived while the workers were still importing. Then the settle window: the check is polled
every ``interval`` for ``settle`` seconds and must pass every time, because one good answer
proves little while old workers may still be serving, or new ones are about to crash. The
whole proof is bounded by ``deadline``.

Checks run at the same time, one thread each, so a rollback waits for the slowest check rather
than the sum of them; the report keeps the order of the configuration.
"""

from __future__ import annotations

import dataclasses
import http.client
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from safepoint.config import CommandCheck, HealthConfig, HttpCheck
from safepoint.health.process import format_seconds, run_shell
from safepoint.parallel import ordered

CheckKind = Literal["http", "command"]

MAX_BODY = 1024 * 1024
"""Bytes of a response body read for ``body_contains``; a health endpoint is small, and a
misconfigured URL pointing at a large download must not hold the check up."""

USER_AGENT = "safepoint-health"


@dataclass(frozen=True)
class CheckResult:
    """One check after its last attempt (or, passed to ``on_attempt``, after one attempt)."""

    name: str
    """The URL of an HTTP check, the command line of a command check."""
    kind: CheckKind
    ok: bool
    attempts: int
    latency: float | None
    """Seconds the last attempt took; None if it could not even start."""
    detail: str
    """``200 OK`` or ``exit 0`` on success; otherwise the reason, in words."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "ok": self.ok,
            "attempts": self.attempts,
            "latency": None if self.latency is None else round(self.latency, 4),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class HealthReport:
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """Every check passed. With no checks configured this is True: there is nothing to
        contradict; callers that need proof look at :attr:`configured` as well."""
        return all(result.ok for result in self.results)

    @property
    def configured(self) -> bool:
        return bool(self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(result for result in self.results if not result.ok)

    def summary(self) -> str:
        """One line for a message: which checks failed and why, or that all passed."""
        if not self.configured:
            return "no health checks configured"
        if self.ok:
            return f"all {len(self.results)} health checks passed"
        reasons = "; ".join(f"{r.name}: {r.detail}" for r in self.failures)
        return f"{len(self.failures)} of {len(self.results)} health checks failed: {reasons}"

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "configured": self.configured,
            "checks": [result.to_json() for result in self.results],
        }


@dataclass(frozen=True)
class Attempt:
    """One attempt, as progress output shows it."""

    result: CheckResult
    of: int
    """The configured retries: attempts allowed before the first pass."""
    elapsed: float
    """Seconds since the checks started."""
    settling: float | None = None
    """Inside the settle window: seconds since the check first passed; None before."""

    def describe(self) -> str:
        """``http://x/ attempt 2 of 10: status 500, expected 200 (0.01s; 1.4s elapsed)``."""
        r = self.result
        if self.settling is None:
            where = f"attempt {r.attempts} of {self.of}"
        else:
            where = f"settling, {self.settling:.1f}s after passing"
        took = f"{r.latency:.2f}s; " if r.latency is not None else ""
        verdict = "ok" if r.ok else "FAIL"
        return f"{r.name} {where}: {verdict} {r.detail} ({took}{self.elapsed:.1f}s elapsed)"


AttemptCallback = Callable[[Attempt], None]
Abort = Callable[[], "str | None"]


def run_checks(
    health: HealthConfig,
    *,
    root: Path,
    on_attempt: AttemptCallback | None = None,
    sleep: Callable[[float], None] | None = None,
    abort: Abort | None = None,
) -> HealthReport:
    """Run every configured check and report them in configuration order.

    Each check is tried up to ``retries`` times, ``interval`` apart, until it first passes;
    then, for ``settle`` seconds, it is polled every ``interval`` and must keep passing (one
    failure in that window fails it). The first pass must come by ``deadline - settle``
    seconds after the start, so the whole proof ends by about ``deadline``.

    ``on_attempt`` is called after each attempt of each check (for progress output); calls are
    serialised, so it need not be thread-safe. ``sleep`` is how the pause between attempts is
    taken, so a caller that must stay responsive can pass an interruptible wait (by default a
    wait that Ctrl-C cuts short: the pool below cannot end before its workers do). ``abort`` is
    asked between attempts and returns a reason to stop retrying (the app's master died).
    """
    checks: list[HttpCheck | CommandCheck] = [*health.http, *health.command]
    if not checks:
        return HealthReport(results=())
    lock = threading.Lock()
    started = time.monotonic()

    def report(result: CheckResult, settling: float | None) -> None:
        if on_attempt is not None:
            attempt = Attempt(result, health.retries, time.monotonic() - started, settling)
            with lock:
                on_attempt(attempt)

    stop = threading.Event()  # set on Ctrl-C: commands are killed, no retry, no pause

    def run(check: HttpCheck | CommandCheck) -> CheckResult:
        return _Prover(
            check, health, root, report, sleep or stop.wait, abort, started, stop
        ).run()

    with ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="health") as pool:
        try:
            return HealthReport(results=tuple(ordered(pool, run, checks)))
        except BaseException:
            stop.set()
            raise


def probe(health: HealthConfig, *, root: Path) -> HealthReport:
    """Every check once, no retries, no settle window: one poll of ``safepoint guard``, which
    does its own counting of consecutive failures."""
    return run_checks(dataclasses.replace(health, retries=1, settle=0.0), root=root)


MIN_ATTEMPT = 0.2
"""Seconds an attempt gets at least, even when the deadline is closer than that."""


@dataclass
class _Prover:
    check: HttpCheck | CommandCheck
    health: HealthConfig
    root: Path
    report: Callable[[CheckResult, float | None], None]
    sleep: Callable[[float], object]
    abort: Abort | None
    started: float
    stop: threading.Event  # set on Ctrl-C: the running command is killed, no further attempt
    attempts: int = 0

    def run(self) -> CheckResult:
        health = self.health
        first_pass_by = self.started + health.deadline - health.settle
        retries = max(1, health.retries)
        while True:
            result = self.attempt(timeout=min(health.timeout, first_pass_by - time.monotonic()))
            self.report(result, None)
            if result.ok:
                return self.settle(result)
            if self.attempts >= retries or self.stop.is_set():
                return result
            if time.monotonic() + health.interval >= first_pass_by:
                return self.failed(result, f"deadline {format_seconds(health.deadline)} reached")
            self.sleep(health.interval)
            reason = self.abort() if self.abort else None
            if reason:
                return self.failed(result, reason)

    def settle(self, passed: CheckResult) -> CheckResult:
        """Keep polling for ``settle`` seconds; the last poll comes at the window's end."""
        window = self.health.settle
        first = time.monotonic()
        while (elapsed := time.monotonic() - first) < window:
            self.sleep(min(self.health.interval, window - elapsed) or 0.01)
            reason = self.abort() if self.abort else None
            if reason:
                after = time.monotonic() - first
                return self.failed(passed, f"{reason}, {after:.1f}s after passing")
            if self.stop.is_set():
                return self.failed(passed, "interrupted")
            result = self.attempt(timeout=self.health.timeout)
            self.report(result, time.monotonic() - first)
            if not result.ok:
                return self.failed(
                    result,
                    f"passed, then failed {time.monotonic() - first:.1f}s into the "
                    f"{format_seconds(window)} settle window: {result.detail}",
                    replace_detail=True,
                )
            passed = result
        return passed

    def attempt(self, *, timeout: float) -> CheckResult:
        self.attempts += 1
        timeout = max(timeout, MIN_ATTEMPT)
        if isinstance(self.check, HttpCheck):
            return check_http(self.check, timeout=timeout, attempt=self.attempts)
        return check_command(
            self.check, timeout=timeout, root=self.root, attempt=self.attempts, stop=self.stop
        )

    def failed(self, last: CheckResult, why: str, *, replace_detail: bool = False) -> CheckResult:
        detail = why if replace_detail else f"{last.detail} ({why})"
        return dataclasses.replace(last, ok=False, detail=detail)


def check_http(check: HttpCheck, *, timeout: float, attempt: int = 1) -> CheckResult:
    """One attempt of an HTTP check. Redirects are followed and the final status is compared."""
    started = time.monotonic()

    def result(ok: bool, detail: str) -> CheckResult:
        latency = time.monotonic() - started
        return CheckResult(check.url, "http", ok, attempt, latency, detail)

    problem = _url_problem(check.url)
    if problem:
        return CheckResult(check.url, "http", False, attempt, None, f"invalid URL: {problem}")
    try:
        status, reason, body, complete = _fetch(check.url, timeout=timeout)
    except TimeoutError:
        return result(False, f"timed out after {format_seconds(timeout)}")
    except urllib.error.URLError as exc:
        return result(False, _connection_problem(exc.reason, timeout))
    except (OSError, http.client.HTTPException) as exc:
        return result(False, _connection_problem(exc, timeout))
    except ValueError as exc:  # what _url_problem let through: a bad port, bad characters
        return CheckResult(check.url, "http", False, attempt, None, f"invalid URL: {exc}")

    if status != check.status:
        return result(False, f"status {status}, expected {check.status}")
    if check.body_contains is not None and check.body_contains.encode() not in body:
        where = "" if complete else f" (in the first {MAX_BODY // 1024} KiB)"
        return result(False, f"body does not contain {check.body_contains!r}{where}")
    return result(True, f"{status} {reason}".strip())


def check_command(
    check: CommandCheck,
    *,
    timeout: float,
    root: Path,
    attempt: int = 1,
    stop: threading.Event | None = None,
) -> CheckResult:
    """One attempt of a command check: the shell in ``root``, healthy on exit 0, killed with
    everything it started when the timeout passes."""
    try:
        done = run_shell(check.run, cwd=root, timeout=timeout, kill_leftovers=True, stop=stop)
    except OSError as exc:
        return CheckResult(check.run, "command", False, attempt, None, f"cannot run: {exc}")
    detail = done.outcome if done.ok else done.describe()
    return CheckResult(check.run, "command", done.ok, attempt, done.duration, detail)


# Environment proxies are ignored: the checks ask this server's own app whether it is up, and an
# http_proxy meant for outbound traffic would turn that into a question about the proxy.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _url_problem(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "expected http://host[:port]/path or https://..."
    return None


def _fetch(url: str, *, timeout: float) -> tuple[int, str, bytes, bool]:
    """GET ``url``: status, reason, up to :data:`MAX_BODY` bytes of body, and whether that is
    the whole body. An error status is a response like any other here."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = _opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        response = exc
    with response:
        body, complete = _read_body(response, deadline)
        return int(response.status), str(response.reason or ""), body, complete


def _read_body(response: Any, deadline: float) -> tuple[bytes, bool]:
    # The socket timeout bounds each read, not the whole body; a server that drips bytes
    # would otherwise keep an attempt alive indefinitely, so the deadline is checked between
    # chunks as well (an attempt can run at most about twice the timeout).
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read(min(64 * 1024, MAX_BODY + 1 - size))
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:MAX_BODY], False


def _connection_problem(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"timed out after {format_seconds(timeout)}"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(reason, ConnectionResetError):
        return "connection reset"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host: {reason.strerror}"
    if isinstance(reason, http.client.HTTPException):
        return f"bad HTTP response: {type(reason).__name__} {reason}".strip()
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[0].lower() + reason.strerror[1:]
    return str(reason)
