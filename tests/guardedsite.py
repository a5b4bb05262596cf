"""A small real site for guarded changes: the demo's WSGI app (safepoint/ops/demo_site.py)
served by wsgiref on a free port of 127.0.0.1, ``[app] server = "command"`` restarting it,
initialised; its server is stopped (and checked gone) when the test ends."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from safepoint.ops import demo_site
from tests.helpers import sp


@dataclass
class GuardedSite:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def status(self) -> int:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def server_pid(self) -> int:
        return int((self.root / "logs" / "server.pid").read_text())

    def set_health(self, **values: object) -> None:
        """Replace ``[health]`` settings in safepoint.toml (e.g. retries=60)."""
        path = self.root / "safepoint.toml"
        lines = path.read_text().splitlines()
        for key, value in values.items():
            lines = [f"{key} = {value}" if ln.startswith(f"{key} = ") else ln for ln in lines]
        path.write_text("\n".join(lines) + "\n")

    def add_config(self, text: str) -> None:
        path = self.root / "safepoint.toml"
        path.write_text(path.read_text() + text)


BREAK = "import pathlib; p = pathlib.Path('app.py'); p.write_text(p.read_text().replace(*{pair}))"


def break_command(python: str) -> list[str]:
    """A command that exits 0 and leaves the app answering 500 once reloaded."""
    return [python, "-c", BREAK.format(pair=demo_site.BROKEN)]


@contextmanager
def guarded_site(parent: Path) -> Iterator[GuardedSite]:
    root = parent / "site"
    port = demo_site.build_site(root)
    demo_site.start_server(root)
    site = GuardedSite(root, port)
    try:
        sp("init", cwd=root, check=True)
        assert site.status() == 200
        yield site
    finally:
        demo_site.stop_server(root)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
