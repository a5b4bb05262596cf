"""A fleet of four hosts for the fleet tests: each its own site root, served over HTTP on a free
port of 127.0.0.1 by a small app that answers its health URL with the root's ``health.txt`` (as
a running site serves the code it has), each with a real HTTP health check in its own
``safepoint.toml``; an Ansible inventory of the four with local connections.

All four share ONE repository (a folder outside the roots, ``[repository] path`` in each root's
``safepoint.toml``), as hosts of one site share one: it holds ``v1`` (the REF the tests roll back
to) and ``v2``, made on web1; every root starts with v2's files (the others are copies of web1's
tree, so their trees match no checkpoint of their own: the fleet's ``before`` step makes one).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.helpers import SAFEPOINT, snapshot, sp, sp_json, write

HOSTS = ("web1", "web2", "web3", "web4")
SKIP = (".safepoint-state", "safepoint.toml")  # not in a checkpoint; never touched by rollback


class SiteApp(ThreadingHTTPServer):
    block_on_close = False
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/health"


class _Handler(BaseHTTPRequestHandler):
    server: SiteApp

    def do_GET(self) -> None:
        try:
            body = (self.server.root / "health.txt").read_bytes()
            status = 200
        except OSError:
            body, status = b"no health.txt", 500
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def health_config(url: str, expect: str) -> str:
    return f"""
[health]
timeout = 2
retries = 3
interval = 0.2
settle = 0.3
deadline = 10

[[health.http]]
url = "{url}"
status = 200
body_contains = "{expect}"
"""


@dataclass
class Fleet:
    base: Path
    roots: dict[str, Path]
    apps: dict[str, SiteApp]
    inventory: Path
    env: dict[str, str] = field(default_factory=dict)

    def expect(self, host: str, text: str) -> None:
        """The health check of ``host`` wants ``text`` in the page (the toml is the host's own)."""
        toml = self.roots[host] / "safepoint.toml"
        head = toml.read_text().split("\n[health]")[0]
        toml.write_text(head + health_config(self.apps[host].url, text))

    def fleet(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return sp("fleet", *args, env=self.env, timeout=timeout)

    def fleet_json(self, *args: str, code: int = 0) -> dict[str, Any]:
        proc = self.fleet(*args, "--json")
        assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
        doc = json.loads(proc.stdout)
        assert isinstance(doc, dict)
        return doc

    def rollback(self, ref: str, *more: str, code: int = 0) -> dict[str, Any]:
        return self.fleet_json(
            "rollback", ref, "--inventory", str(self.inventory), "--yes", *more, code=code
        )

    def snapshots(self) -> dict[str, dict[bytes, tuple[Any, ...]]]:
        return {h: snapshot(root, skip=SKIP) for h, root in self.roots.items()}

    def checkpoint(self, ref: str, host: str = "web1") -> str:
        return str(sp_json("show", ref, cwd=self.roots[host])["id"])

    def at(self, host: str) -> str | None:
        """The checkpoint the host's tree matches, or None."""
        doc = sp_json("status", cwd=self.roots[host])
        return doc["from"] if doc["clean"] and doc["pending_recovery"] is None else None

    def versions(self) -> dict[str, str]:
        return {h: (r / "app.txt").read_text().strip() for h, r in self.roots.items()}

    def runs(self) -> list[Path]:
        folder = Path(self.env["SAFEPOINT_FLEET_STATE"]) / "runs"
        return sorted(folder.iterdir()) if folder.is_dir() else []


def _version(root: Path, version: str) -> None:
    write(root / "app.txt", f"{version}\n")
    write(root / "health.txt", f"ok {version}\n")
    write(root / "templates" / "home.html", f"<h1>Event site {version}</h1>\n")


def make_inventory(path: Path, roots: dict[str, Path], **group_vars: str) -> Path:
    lines = ["[web]"]
    lines += [f"{h} safepoint_root={root}" for h, root in roots.items()]
    lines += ["", "[web:vars]", "ansible_connection=local"]
    lines.append(f"ansible_python_interpreter={sys.executable}")
    lines.append(f"safepoint_executable={SAFEPOINT}")
    lines += [f"{k}={v}" for k, v in group_vars.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def controller_env(base: Path) -> dict[str, str]:
    """The fleet journal and Ansible's own temporary files in the test's folder."""
    (base / "ansible-tmp").mkdir(exist_ok=True)
    return {
        "SAFEPOINT_FLEET_STATE": str(base / "state"),
        "ANSIBLE_LOCAL_TEMP": str(base / "ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(base / "ansible-tmp"),
    }


def use_repository(root: Path, repository: Path) -> None:
    """Point the root at ``repository`` and create it if need be (a second init is harmless)."""
    root.mkdir(parents=True, exist_ok=True)
    write(root / "safepoint.toml", f'[repository]\npath = "{repository}"\n')
    sp("init", cwd=root, check=True)


@contextmanager
def four_hosts(base: Path) -> Iterator[Fleet]:
    repository = base / "repository"
    first = base / "hosts" / HOSTS[0]
    _version(first, "v1")
    use_repository(first, repository)
    sp("create", "--label", "v1", cwd=first, check=True)
    _version(first, "v2")
    sp("create", "--label", "v2", cwd=first, check=True)
    roots = {HOSTS[0]: first}
    for host in HOSTS[1:]:
        roots[host] = base / "hosts" / host
        shutil.copytree(first, roots[host], symlinks=True, ignore=shutil.ignore_patterns(*SKIP))
        use_repository(roots[host], repository)
    apps = {h: SiteApp(root) for h, root in roots.items()}
    threads = [threading.Thread(target=a.serve_forever, daemon=True) for a in apps.values()]
    for t in threads:
        t.start()
    fleet = Fleet(base, roots, apps, make_inventory(base / "inventory.ini", roots))
    fleet.env = controller_env(base)
    try:
        for host in HOSTS:
            fleet.expect(host, "ok")
        yield fleet
    finally:
        for app in apps.values():
            app.shutdown()
            app.server_close()
