"""A real Django project served by a real gunicorn, for tests that break a site and bring it back.

``create_site(parent)`` runs ``django-admin startproject`` (through the current interpreter) and
adds what an operator's site has: ``/api/health/`` returning ``{"status": "ok"}``, a home page
rendered from ``templates/home.html``, ``DEBUG = False``, ``ALLOWED_HOSTS``. ``site.start()`` runs
gunicorn (2 sync workers, 127.0.0.1, a free port) as a subprocess and waits until the health URL
answers 200; ``site.stop()`` stops every master it knows of, by process group.

Runtime state lives in ``logs/`` (pid file, gunicorn's log). safepoint excludes ``logs/`` by
default, which matters: a pid file inside a checkpoint would be rolled back to a dead master's pid.

How gunicorn 27 (sync workers, no ``--preload``) behaves when the app breaks
-----------------------------------------------------------------------------
- SIGHUP starts new workers, each importing the app afresh, and then stops the old ones. Until
  the old workers are gone, a request may still be answered by the old code, so "reloaded"
  means "every worker that existed before the HUP has exited", not "the signal was sent".
- What a worker imports at boot is only ``mysite/wsgi.py`` -> ``django.setup()``: settings and
  the installed apps. ``urls.py``, views and templates are loaded at the first request. So a
  syntax error in ``urls.py`` or a view that raises does not stop gunicorn: the workers boot
  and every request gets a 500 (with ``DEBUG = False``).
- A broken ``settings.py`` (or ``wsgi.py``, or an installed app) makes the new workers exit with
  code 3 (``WORKER_BOOT_ERROR``); the master then halts ("Reason: Worker failed to boot."),
  taking the old, healthy workers with it and deleting its pid file. After that a HUP has no
  one to go to: bringing the site back needs a new master, which fails the same way until the
  files are fixed.
- With two workers failing at once, gunicorn 27.0.1 can crash inside that halt: ``halt()`` calls
  ``stop()``, which reaps the second failed worker and raises ``HaltServer`` again, so the
  master dies with a traceback ("During handling of the above exception...") before it deletes
  its pid file. The stale file names a dead pid; a new master refuses to start while that pid
  still exists (as an unreaped zombie, say: gunicorn checks with ``kill(pid, 0)``), so the
  reload hook removes a pid file whose process is not running before it starts a master.
- Django's cached template loader (on by default, even with ``DEBUG = False``) keeps compiled
  templates in each worker, so deleting a template that was already rendered changes nothing
  until the workers are replaced; after a reload the page is a 500 ("TemplateDoesNotExist").

Hence ``site.reload_hook``, a shell command for ``after_restore``: it runs this module as a
script (``reload SITE PORT``), which calls safepoint's own ``[app]`` reload
(``safepoint.health.app.reload_app``: SIGHUP to a live master and a wait for the old workers to
be replaced, or a new daemonized master when there is none) and exits 0 once gunicorn answers
HTTP at all (any status: health checks judge the answers) or 1 with gunicorn's reason when it
cannot keep a master running. ``site.reload()`` is the same code called in-process.

Linux only: worker processes are found through ``/proc``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from safepoint.config import AppConfig
from safepoint.health.app import AppError, reload_app

PROJECT = "mysite"
HEALTH_PATH = "/api/health/"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


@dataclass
class DjangoSite:
    dir: Path
    port: int
    python: str = sys.executable
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    """Masters this process started, kept so they can be reaped at stop."""
    listener: socket.socket | None = field(default=None, repr=False)
    """The port, bound and listening since ``create_site`` chose it, until a master is about to
    bind it: no other process (a server of another xdist worker) can take it meanwhile, as it
    could in the seconds between probing a free port and starting gunicorn. gunicorn binds the
    address itself (as on a real site: ``init`` reads it from the master's command line), so a
    window of its start-up time remains. Call ``close_listener`` before starting a master any
    other way (the ``[app]`` start command)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return self.base_url + HEALTH_PATH

    @property
    def pid_file(self) -> Path:
        return self.dir / "logs" / "gunicorn.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "logs" / "gunicorn.log"

    @property
    def reload_hook(self) -> str:
        """A shell command that makes gunicorn serve the files as they are now (see module
        docstring); exit 1 if gunicorn cannot stay up with them."""
        script = str(Path(__file__).resolve())
        return shlex.join([self.python, script, "reload", str(self.dir), str(self.port)])

    def master_pid(self) -> int | None:
        return master_pid(self.pid_file)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start gunicorn and wait until the health URL answers 200."""
        self.close_listener()  # gunicorn binds it now
        proc = start_master(self.dir, self.port, python=self.python)
        self.started.append(proc)
        deadline = time.monotonic() + timeout
        if not wait_serving(self.port, deadline=deadline, alive=_running(proc)):
            raise RuntimeError(f"gunicorn exited: {last_reason(self.log_file)}")
        status, body = self.wait_status(HEALTH_PATH, 200, timeout=deadline - time.monotonic())
        if status != 200:
            raise RuntimeError(f"{self.health_url} answers {status}: {body[:200]}")

    def reload(self, timeout: float = START_TIMEOUT) -> None:
        """What the reload hook does, in-process: raises ``RuntimeError`` if gunicorn died."""
        self.close_listener()  # a master it starts binds the port itself
        new = reload_or_start(self.dir, self.port, python=self.python, timeout=timeout)
        if new is not None:
            self.started.append(new)

    def stop(self) -> None:
        """Stop every master this site has had: SIGTERM to its process group, SIGKILL to what
        is left after a few seconds. Safe to call twice."""
        self.close_listener()
        pids = {p.pid for p in self.started}
        current = read_pid(self.pid_file)
        if current is not None:
            pids.add(current)
        for pid in pids:
            stop_group(pid)
        for proc in self.started:
            proc.wait(timeout=STOP_TIMEOUT)
        self.started.clear()

    def close_listener(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def get(self, path: str = HEALTH_PATH, *, timeout: float = 5.0) -> tuple[int, str]:
        """(status, body) of a GET, or (0, reason) when nothing answers."""
        return http_get(self.base_url + path, timeout=timeout)

    def wait_status(self, path: str, status: int, *, timeout: float = 10.0) -> tuple[int, str]:
        """Poll ``path`` until it answers ``status``; the last answer either way."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.get(path, timeout=1.0)
            if answer[0] == status or time.monotonic() > deadline:
                return answer
            time.sleep(0.05)


def create_site(parent: Path, *, port: int | None = None) -> DjangoSite:
    """A new Django project in ``parent / "site"``, not yet running."""
    site = parent / "site"
    site.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", PROJECT, str(site)],
        check=True,
        capture_output=True,
    )
    _customise(site)
    if port is not None:
        return DjangoSite(dir=site, port=port)
    listener = listening_socket()
    return DjangoSite(dir=site, port=listener.getsockname()[1], listener=listener)


@contextlib.contextmanager
def running_site(parent: Path) -> Iterator[DjangoSite]:
    """A created and started site, stopped on exit."""
    site = create_site(parent)
    try:
        site.start()
        yield site
    finally:
        site.stop()


def _customise(site: Path) -> None:
    settings = site / PROJECT / "settings.py"
    text = settings.read_text()
    text = text.replace("DEBUG = True", "DEBUG = False")
    text = text.replace("ALLOWED_HOSTS = []", 'ALLOWED_HOSTS = ["127.0.0.1", "localhost"]')
    text = text.replace("'DIRS': [],", "'DIRS': [BASE_DIR / 'templates'],")
    settings.write_text(text)
    (site / PROJECT / "views.py").write_text(
        textwrap.dedent(
            '''\
            """Views of the test site: a health endpoint and one templated page."""
            from django.http import JsonResponse
            from django.shortcuts import render


            def health(request):
                return JsonResponse({"status": "ok"})


            def home(request):
                return render(request, "home.html", {"title": "Event site"})
            '''
        )
    )
    (site / PROJECT / "urls.py").write_text(
        textwrap.dedent(
            """\
            from django.urls import path

            from . import views

            urlpatterns = [
                path("", views.home, name="home"),
                path("api/health/", views.health, name="health"),
            ]
            """
        )
    )
    (site / "templates").mkdir()
    (site / "templates" / "home.html").write_text(
        "<!doctype html>\n<title>{{ title }}</title>\n<h1>{{ title }}</h1>\n"
    )
    (site / "logs").mkdir()


# --- gunicorn control, shared by DjangoSite and the reload hook script ----------------------


def gunicorn_command(python: str, port: int, *, daemon: bool = False) -> list[str]:
    logs = (
        ["--daemon", "--error-logfile", "logs/gunicorn.log"]
        if daemon
        else ["--access-logfile", "-", "--error-logfile", "-"]
    )
    return [
        python, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", "2",
        "--pid", "logs/gunicorn.pid",
        "--graceful-timeout", "3",
        # gunicorn 27 otherwise opens a control socket at ~/.gunicorn/gunicorn.ctl, one path
        # shared by every master of the user: two sites (or two test runs) would fight over it.
        "--no-control-socket",
        *logs,
        f"{PROJECT}.wsgi:application",
    ]  # fmt: skip


def start_master(site: Path, port: int, *, python: str) -> subprocess.Popen[bytes]:
    """Start a gunicorn master in its own session (so its whole group can be stopped, and so it
    outlives a hook that started it), logging to ``logs/gunicorn.log``."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # No .pyc files: a test that rewrites a module within the same second and to the same size
    # would otherwise be served the stale bytecode (pyc validity is mtime seconds + size).
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    (site / "logs").mkdir(exist_ok=True)
    with open(site / "logs" / "gunicorn.log", "ab") as log:
        return subprocess.Popen(
            gunicorn_command(python, port),
            cwd=site,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def app_config(site: Path, port: int, *, python: str, timeout: float) -> AppConfig:
    """The ``[app]`` of this site: safepoint's own reload, with a ``start`` that daemonizes."""
    start = ["env", "-u", "DJANGO_SETTINGS_MODULE", "PYTHONDONTWRITEBYTECODE=1"]
    start += gunicorn_command(python, port, daemon=True)
    return AppConfig(
        server="gunicorn",
        pidfile=site / "logs" / "gunicorn.pid",
        start=shlex.join(start),
        timeout=timeout,
    )


def reload_or_start(
    site: Path, port: int, *, python: str, timeout: float = START_TIMEOUT
) -> subprocess.Popen[bytes] | None:
    """Make gunicorn serve the current files with safepoint's reload (HUP a live master and
    wait until none of its old workers is left, or start a master if there is none), then wait
    until it answers HTTP. Raises ``RuntimeError`` with gunicorn's reason if no master stays
    up. Returns None: a master it started is daemonized, found again through its pid file."""
    app = app_config(site, port, python=python, timeout=timeout)
    deadline = time.monotonic() + timeout
    # Twice: a master that accepted the HUP halts later, once the new workers fail to boot
    # (after reload_app returned); the second round starts a fresh one, which tells the
    # same story in the log if the files are still broken.
    for _ in range(2):
        try:
            reloaded = reload_app(app, root=site)
        except AppError as exc:
            raise RuntimeError(
                f"gunicorn exited: {last_reason(site / 'logs' / 'gunicorn.log')}"
            ) from exc
        pid = reloaded.master
        assert pid is not None
        if wait_serving(port, deadline=deadline, alive=lambda pid=pid: is_running(pid)):
            return None
    raise RuntimeError(f"gunicorn exited: {last_reason(site / 'logs' / 'gunicorn.log')}")


def _running(proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: proc.poll() is None


def wait_serving(port: int, *, deadline: float, alive: Callable[[], bool]) -> bool:
    """Wait until gunicorn answers HTTP at all (True), or its master is gone (False);
    ``RuntimeError`` at the deadline."""
    url = f"http://127.0.0.1:{port}{HEALTH_PATH}"
    while time.monotonic() < deadline:
        if http_get(url, timeout=1.0)[0]:
            return True
        if not alive():
            return False
        time.sleep(0.05)
    raise RuntimeError(f"gunicorn did not answer {url} in time")


# gunicorn's arbiter halts with these reasons when a worker exits with these codes
# (WORKER_BOOT_ERROR, APP_LOAD_ERROR in gunicorn/arbiter.py).
HALT_REASONS = {3: "Worker failed to boot.", 4: "App failed to load."}


def last_reason(log: Path, wait: float = 3.0) -> str:
    """The line of gunicorn's log that says why it stopped. A master that is halting writes
    that line last, after its workers' exits: wait ``wait`` seconds at most for it to appear
    (a reason read too early was a worker's "exited with code 3", under load). A master that
    died inside its halt (the two-worker crash of the module docstring) never writes it: the
    reason is then what gunicorn halts for on the last worker exit code it logged."""
    deadline = time.monotonic() + wait
    while True:
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        for line in reversed(lines):
            if "Reason:" in line or "HaltServer:" in line or line.startswith("Error:"):
                return line.split("] ", 2)[-1].strip()
        if time.monotonic() >= deadline:
            for line in reversed(lines):
                code = re.search(r"exited with code (\d+)\.$", line)
                if code and int(code.group(1)) in HALT_REASONS:
                    said = line.split("] ", 2)[-1].strip()
                    return f"{HALT_REASONS[int(code.group(1))]} (no Reason line; {said})"
            return lines[-1].strip() if lines else "no log"
        time.sleep(0.1)


def stop_group(pid: int) -> None:
    """SIGTERM the process group of master ``pid`` (workers included), SIGKILL it if the master
    is still there after :data:`STOP_TIMEOUT`. A daemonized master (``-D``) does not lead its
    process group: it and its workers are signalled one by one."""
    workers = worker_pids(pid)
    _signal_all(pid, workers, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_all(pid, workers | worker_pids(pid), signal.SIGKILL)


def _signal_all(pid: int, workers: set[int], sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
        return
    except ProcessLookupError:
        pass
    for each in (pid, *workers):
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, sig)


# --- processes and HTTP ---------------------------------------------------------------------


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def master_pid(pid_file: Path) -> int | None:
    """The pid in gunicorn's pid file if that process is alive (a stale file says nothing)."""
    pid = read_pid(pid_file)
    return pid if pid is not None and is_running(pid) else None


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name: state, ppid, pgrp, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def is_running(pid: int) -> bool:
    """Alive and not a zombie: a master that exited stays a zombie until its parent reaps it,
    and ``kill(pid, 0)`` still succeeds on one."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def worker_pids(master: int) -> set[int]:
    """Live children of ``master``: gunicorn's workers."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[1] == str(master) and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def wait_gone(pid: int, timeout: float = 2.0) -> bool:
    """Wait until ``pid`` is dead (gone or a zombie); False if it is still running."""
    deadline = time.monotonic() + timeout
    while is_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def listening_socket() -> socket.socket:
    """A socket listening on a free port of 127.0.0.1 (the kernel's choice)."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


# Proxies from the environment would turn a question about 127.0.0.1 into one about the proxy.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, *, timeout: float) -> tuple[int, str]:
    """(status, body) of a GET, error statuses included; (0, reason) if nothing answers."""
    try:
        with _opener.open(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(getattr(exc, "reason", exc))


def main(argv: list[str] | None = None) -> int:
    """``reload SITE PORT``: the reload hook (see module docstring)."""
    parser = argparse.ArgumentParser(prog="djangosite")
    parser.add_argument("action", choices=["reload"])
    parser.add_argument("site", type=Path)
    parser.add_argument("port", type=int)
    args = parser.parse_args(argv)
    try:
        new = reload_or_start(args.site.resolve(), args.port, python=sys.executable)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("gunicorn started" if new else "gunicorn reloaded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
