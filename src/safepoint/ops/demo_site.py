"""The demo's throwaway site: a real WSGI app served by the standard library's ``wsgiref`` on a
free port of 127.0.0.1, in a process of its own, configured with ``[app] server = "command"``
(``reload`` restarts the server, so it runs the files as they are now) and one
``[[health.http]]`` check.

The server is controlled by ``ctl.py start|stop|restart`` in the site: ``start`` forks the
server into its own session (it outlives the command that started it, as a real server
outlives a deploy) and returns once it answers on its port; ``stop`` ends it (SIGTERM, then
SIGKILL) and waits until it has gone. Its pid is in ``logs/server.pid`` (``logs/`` is not
checkpointed): whoever built the site stops it with :func:`stop_server`, which never leaves
a process or a listening port behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from safepoint.config import CONFIG_NAME

APP = '''"""A tiny WSGI app: the site the demo checkpoints, breaks and rolls back."""

STATUS = "200 OK"
BODY = "ok: the demo site serves its page"


def application(environ, start_response):
    body = (BODY + "\\n").encode()
    start_response(STATUS, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''

BROKEN = ('STATUS = "200 OK"', 'STATUS = "500 Internal Server Error"')

SERVE = '''"""Serve app.py with wsgiref on 127.0.0.1:PORT; write the pid once the port is bound."""

import os
import signal
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

import app


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    port, pidfile = int(sys.argv[1]), sys.argv[2]
    httpd = make_server("127.0.0.1", port, app.application, handler_class=Quiet)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(pidfile + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(pidfile + ".tmp", pidfile)
    try:
        httpd.serve_forever(poll_interval=0.1)
    finally:
        httpd.server_close()


main()
'''

CTL = '''"""start | stop | restart the demo server (see safepoint/ops/demo_site.py)."""

import os
import signal
import socket
import subprocess
import sys
import time

PORT = {port}
HERE = os.path.dirname(os.path.abspath(__file__))
PIDFILE = os.path.join(HERE, "logs", "server.pid")


def read_pid():
    try:
        with open(PIDFILE) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited: not alive
        with open(f"/proc/{{pid}}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop():
    pid = read_pid()
    if pid is None or not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + 5
    while alive(pid) and time.monotonic() < end:
        time.sleep(0.02)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.02)
    os.unlink(PIDFILE)


def start():
    os.makedirs(os.path.join(HERE, "logs"), exist_ok=True)
    if os.path.exists(PIDFILE):
        os.unlink(PIDFILE)
    log = open(os.path.join(HERE, "logs", "server.log"), "ab")
    proc = subprocess.Popen(
        [sys.executable, "serve.py", str(PORT), PIDFILE],
        cwd=HERE,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"the server exited at once ({{proc.returncode}}); see logs/server.log")
        if read_pid() == proc.pid:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", PORT)) == 0:
                    return
        time.sleep(0.02)
    sys.exit("the server did not answer within 10s")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command in ("stop", "restart"):
        stop()
    if command in ("start", "restart"):
        start()
    if command not in ("start", "stop", "restart"):
        sys.exit("usage: ctl.py start|stop|restart")
'''

INDEX = "<h1>The demo site</h1>\n<p>Served by wsgiref; checkpointed by safepoint.</p>\n"


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice for port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_site(root: Path, *, port: int | None = None) -> int:
    """Write the site's files and its ``safepoint.toml`` into ``root`` (empty or absent);
    return the port it will serve on. Nothing is started."""
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    (root / "static").mkdir(exist_ok=True)
    (root / "app.py").write_text(APP)
    (root / "serve.py").write_text(SERVE)
    (root / "ctl.py").write_text(CTL.format(port=port))
    (root / "static" / "index.html").write_text(INDEX)
    python = json.dumps(sys.executable)[1:-1]
    ctl = f'\\"{python}\\" ctl.py'
    (root / CONFIG_NAME).write_text(
        f"""# The demo site of 'safepoint demo'.
[app]
server = "command"
reload = "{ctl} restart"
timeout = 15

[health]
timeout = 1
retries = 4
interval = 0.1
settle = 0.3
deadline = 5

[[health.http]]
url = "http://127.0.0.1:{port}/"
status = 200
body_contains = "ok"
"""
    )
    return port


def start_server(root: Path) -> None:
    """Start the site's server and return once it answers (OSError-free: failures raise
    ``subprocess.CalledProcessError``)."""
    subprocess.run([sys.executable, "ctl.py", "start"], cwd=root, check=True, timeout=30)


def stop_server(root: Path) -> None:
    """Stop the site's server if it runs; wait until it has gone."""
    if (root / "ctl.py").exists():
        subprocess.run([sys.executable, "ctl.py", "stop"], cwd=root, timeout=30, check=False)
    # Whatever ctl.py did (a demo may have edited it), no server outlives the demo.
    try:
        pid = int((root / "logs" / "server.pid").read_text().strip())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def break_site(root: Path) -> None:
    """The app answers 500 from now on (once reloaded)."""
    path = root / "app.py"
    path.write_text(path.read_text().replace(*BROKEN))
