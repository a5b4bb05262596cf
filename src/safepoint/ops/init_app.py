"""What ``init`` writes about the app: an ``[app]`` section filled from a gunicorn master that
runs in the site (its pid file, its command line as the ``start`` command), and a proposed
HTTP check on its bind address; otherwise a commented example."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from safepoint.health.gunicorn import FoundMaster, masters_in

DEFAULT_PIDFILE = "gunicorn.pid"

_EXAMPLE = """\
#[app]
# How to reload the app after a rollback so that it runs the restored code.
# server = "gunicorn": HUP the master and wait until every old worker is replaced (run start
# when it is not running). server = "command": run reload = "systemctl reload mysite".
#server = "gunicorn"
#pidfile = "gunicorn.pid"
#start = "venv/bin/gunicorn mysite.wsgi -b 127.0.0.1:8000 -w 2 -p gunicorn.pid -D"
"""


def find_master(root: Path) -> FoundMaster | None:
    """The gunicorn master running in ``root`` (the first, if there are several)."""
    masters = masters_in(root.resolve())
    return masters[0] if masters else None


def app_section(root: Path, master: FoundMaster | None) -> tuple[str, str | None]:
    """The ``[app]`` text, and the URL of the proposed health check (None without a master
    or for a Unix socket)."""
    if master is None:
        return _EXAMPLE, None
    where = master.cwd.relative_to(root.resolve())
    given = master.pidfile()
    pidfile = given or DEFAULT_PIDFILE
    start = master.start(pidfile=pidfile)
    if where != Path("."):
        start = f"cd {shlex.quote(str(where))} && {start}"
        if not Path(pidfile).is_absolute():
            pidfile = str(where / pidfile)
    note = (
        ""
        if given
        else (
            f"# The running master (pid {master.pid}) writes no pid file: restart it once with\n"
            "# the start command below (it adds -p), or safepoint cannot find it.\n"
        )
    )
    section = (
        f"[app]\n# Found gunicorn master {master.pid} running in this site.\n{note}"
        f'server = "gunicorn"\npidfile = {json.dumps(pidfile)}\n'
        f"start = {json.dumps(start)}\n"
    )
    bind = master.bind()
    if bind.startswith(("unix:", "fd://")):
        return section, None
    host, _, port = bind.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return section, f"http://{host}:{port}/"
