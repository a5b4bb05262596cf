"""``[app]``: make the running app serve the files as they are now, and wait until it does.

``server = "gunicorn"``: read the pid file. A missing or stale one (no such process) means the
app is not running: run ``start`` and wait for the pid file and the workers. Otherwise send the
master SIGHUP and wait until every worker that existed before has exited and the expected
number of new workers run; a master that dies meanwhile (new workers that fail to boot make it
halt) is started again. A master that preloads the app is restarted instead (SIGTERM, then
``start``): its HUP would fork new workers from the old code. See :mod:`.gunicorn`.

``server = "command"``: run ``reload``; safepoint cannot see the workers, so the proof relies on
the health checks' settle window.

Everything is bounded by ``[app] timeout``; what goes wrong raises :class:`AppError` with one
line saying what and where. Nothing here writes a file of the site except what gunicorn itself
writes, and a pid file whose process is gone, which is removed before ``start`` (gunicorn
refuses to start while its pid file names a process that exists, even a zombie).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from safepoint.config import COMMAND, AppConfig
from safepoint.errors import ConfigError, OperationalError
from safepoint.health import gunicorn as gu
from safepoint.health.process import format_seconds, run_shell

_POLL = 0.05

Log = Callable[[str], None]


class AppError(OperationalError):
    """The app could not be reloaded or started (exit 1; inside a proof: unhealthy)."""


@dataclass(frozen=True)
class Reloaded:
    how: str
    """``reloaded`` (HUP), ``started`` (was not running), ``restarted`` (preload, or the master
    died during the reload) or ``command``."""
    master: int | None
    workers: tuple[int, ...]
    seconds: float

    def describe(self) -> str:
        if self.master is None:
            return f"app reloaded by its command in {self.seconds:.1f}s"
        return (
            f"gunicorn {self.how} (master {self.master}, {len(self.workers)} new workers) "
            f"in {self.seconds:.1f}s"
        )

    def alive(self) -> str | None:
        """None while the master still runs; else why the proof should stop waiting."""
        if self.master is None or gu.is_running(self.master):
            return None
        return f"the gunicorn master {self.master} exited (its workers failed to boot?)"


def app_problem(app: AppConfig, root: Path) -> str | None:
    """What would make a reload fail before it starts, checked before a rollback changes any
    file: a pid file naming a process that is not a gunicorn master, or an app that is not
    running with no ``start`` to run."""
    if app.server == COMMAND:
        return None
    try:
        live_master(app)
    except ConfigError as exc:
        return str(exc)
    return None


def live_master(app: AppConfig) -> int | None:
    """The running master named by the pid file; None when the app is not running (and it
    can be started). Raises ConfigError when it is not running and there is no ``start``, or
    when the pid names a live process that is not a gunicorn master."""
    assert app.pidfile is not None
    pid = gu.read_pid(app.pidfile)
    if pid is not None and gu.is_running(pid):
        if not gu.is_gunicorn_master(pid):
            what = " ".join(gu.cmdline(pid))[:80] or "unknown"
            raise ConfigError(
                f"[app] pidfile {app.pidfile} names process {pid}, which is not a gunicorn "
                f"master ({what}); fix the pidfile or remove the stale file"
            )
        return pid
    if not app.start:
        state = "names no running process" if pid is not None else "is missing"
        raise ConfigError(
            f"the app is not running ({app.pidfile} {state}) and [app] start is not "
            "configured, so safepoint cannot start it"
        )
    return None


def reload_app(app: AppConfig, *, root: Path, log: Log | None = None) -> Reloaded:
    """Make the app run the files on disk now; return once it does (see the module docstring)."""
    started = time.monotonic()
    deadline = started + app.timeout
    say = log or (lambda _: None)
    if app.server == COMMAND:
        assert app.reload is not None
        done = run_shell(app.reload, cwd=root, timeout=app.timeout)
        if not done.ok:
            raise AppError(f"[app] reload {app.reload!r} failed: {done.describe()}")
        return Reloaded("command", None, (), time.monotonic() - started)
    try:
        pid = live_master(app)
    except ConfigError as exc:
        raise AppError(str(exc)) from None
    if pid is None:
        say(f"gunicorn is not running ({app.pidfile}); starting it")
        return _start(app, root=root, deadline=deadline, started=started, how="started")
    if gu.preloads(pid):
        # A HUP would fork new workers from a master that still holds the old modules.
        say(f"gunicorn master {pid} preloads the app; restarting it")
        _stop(pid, app, deadline=deadline)
        return _start(app, root=root, deadline=deadline, started=started, how="restarted")
    return _hup(app, pid, root=root, deadline=deadline, started=started, say=say)


def _hup(
    app: AppConfig, pid: int, *, root: Path, deadline: float, started: float, say: Log
) -> Reloaded:
    old = set(gu.children(pid))
    wanted = app.workers or gu.configured_workers(pid) or max(len(old), 1)
    say(f"reloading gunicorn master {pid} (HUP; waiting for {wanted} new workers)")
    with contextlib.suppress(ProcessLookupError):  # died just now: started again below
        os.kill(pid, signal.SIGHUP)
    while time.monotonic() < deadline:
        if not gu.is_running(pid):
            say(f"gunicorn master {pid} exited during the reload; starting it again")
            return _start(app, root=root, deadline=deadline, started=started, how="restarted")
        now = set(gu.children(pid))
        if not now & old and len(now) >= wanted:
            return Reloaded("reloaded", pid, tuple(sorted(now)), time.monotonic() - started)
        time.sleep(_POLL)
    now = set(gu.children(pid))
    raise AppError(
        f"gunicorn master {pid} did not replace its workers within "
        f"{format_seconds(app.timeout)} ([app] timeout): {len(now & old)} old still running, "
        f"{len(now - old)} of {wanted} new"
    )


def _start(app: AppConfig, *, root: Path, deadline: float, started: float, how: str) -> Reloaded:
    assert app.pidfile is not None and app.start is not None
    stale = gu.read_pid(app.pidfile)
    if stale is not None and not gu.is_running(stale):
        with contextlib.suppress(FileNotFoundError):
            app.pidfile.unlink()
    remaining = max(deadline - time.monotonic(), 0.1)
    done = run_shell(app.start, cwd=root, timeout=remaining)
    if done.timed_out:
        raise AppError(
            f"[app] start {app.start!r} did not return within {format_seconds(app.timeout)}; "
            "it must start the server in the background (gunicorn -D)"
        )
    if not done.ok:
        raise AppError(f"[app] start {app.start!r} failed: {done.describe()}")
    master: int | None = None
    while time.monotonic() < deadline:
        pid = gu.read_pid(app.pidfile)
        if pid is not None and gu.is_running(pid) and gu.is_gunicorn_master(pid):
            master = pid
            workers = gu.children(pid)
            if len(workers) >= (app.workers or gu.configured_workers(pid) or 1):
                return Reloaded(how, pid, tuple(sorted(workers)), time.monotonic() - started)
        elif master is not None:
            raise AppError(
                f"gunicorn started by [app] start exited again (master {master}): its workers "
                "failed to boot? see gunicorn's error log"
            )
        time.sleep(_POLL)
    if master is None:
        raise AppError(
            f"[app] start {app.start!r} ran but no gunicorn master wrote {app.pidfile} within "
            f"{format_seconds(app.timeout)}"
        )
    raise AppError(
        f"gunicorn master {master} did not start its workers within {format_seconds(app.timeout)}"
    )


def _stop(pid: int, app: AppConfig, *, deadline: float) -> None:
    """SIGTERM (graceful stop) and wait until the master has gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    while gu.is_running(pid):
        if time.monotonic() >= deadline:
            raise AppError(
                f"gunicorn master {pid} did not stop within {format_seconds(app.timeout)}"
            )
        time.sleep(_POLL)


@dataclass(frozen=True)
class Freshness:
    """Whether the running app can have loaded the files as they are now."""

    fresh: bool
    reason: str | None = None


def app_freshness(app: AppConfig, changed: list[tuple[int, str]]) -> Freshness:
    """Fresh when every worker (and, with preload, the master) started after the newest change
    in ``changed`` ((ctime_ns, path) of each tracked file)."""
    if app.server == COMMAND:
        return Freshness(
            False,
            'with [app] server = "command" safepoint cannot see when the workers started; '
            "use --reload",
        )
    try:
        pid = live_master(app)
    except ConfigError as exc:
        return Freshness(False, str(exc))
    if pid is None:
        return Freshness(False, f"the app is not running ({app.pidfile}); use --reload")
    procs = list(gu.children(pid).values())
    if not procs:
        return Freshness(False, f"gunicorn master {pid} has no workers; use --reload")
    if gu.preloads(pid):
        master = gu.proc_info(pid)
        procs += [master] if master else []
    oldest = min(p.started_ns for p in procs)
    newer = [(ctime, path) for ctime, path in changed if ctime >= oldest]
    if newer:
        _, path = max(newer)
        return Freshness(
            False,
            f"not proven on these files: the app's workers started before {path} changed; "
            "use --reload",
        )
    return Freshness(True)
