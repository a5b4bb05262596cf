"""A slow-booting Django site under a daemonized gunicorn, configured with ``[app]``: the site of
issue 11 (its WSGI module sleeps at import, as a real app's workers take a second or more to
boot, and it keeps a SQLite database in a file without an extension)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.djangosite import PROJECT, DjangoSite, app_config, create_site, http_get
from tests.helpers import sp

BOOT_SECONDS = 1.5


def slow_site(parent: Path, *, preload: bool = False) -> DjangoSite:
    """Created, configured (``safepoint init`` + the toml below), started; not checkpointed."""
    site = create_site(parent)
    wsgi = site.dir / PROJECT / "wsgi.py"
    wsgi.write_text(
        f"import time\ntime.sleep({BOOT_SECONDS})  # a slow-booting app\n" + wsgi.read_text()
    )
    with sqlite3.connect(site.dir / "sitedb") as db:
        db.execute("create table users (name text)")
        db.execute("insert into users values ('alice')")
    db.close()
    sp("init", cwd=site.dir, check=True)
    write_config(site, preload=preload)
    start = start_command(site, preload=preload)
    site.close_listener()  # the daemonized master binds the port itself
    subprocess.run(start, shell=True, cwd=site.dir, check=True, timeout=30)
    status, body = site.wait_status("/", 200, timeout=30)
    assert status == 200, body
    return site


def start_command(site: DjangoSite, *, preload: bool = False) -> str:
    start = app_config(site.dir, site.port, python=site.python, timeout=30).start
    assert start is not None
    return start.replace(" --daemon", " --preload --daemon") if preload else start


def write_config(site: DjangoSite, *, preload: bool = False, **health: object) -> None:
    settings: dict[str, object] = {
        "timeout": 3,
        "retries": 4,
        "interval": 0.25,
        "settle": 1,
        "deadline": 15,
    }
    settings.update(health)
    lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in settings.items())
    (site.dir / "safepoint.toml").write_text(
        f"""
[files]
# The database has no SQLite extension: excluded by name here.
exclude = ["sitedb"]

[app]
server = "gunicorn"
pidfile = "logs/gunicorn.pid"
start = {json.dumps(start_command(site, preload=preload))}
timeout = 30

[health]
{lines}

[[health.http]]
url = "{site.health_url}"
status = 200
body_contains = "ok"

[[health.http]]
url = "{site.base_url}/"
status = 200
body_contains = "Event site"
"""
    )


def break_home(root: Path) -> None:
    """The home page's view raises: gunicorn keeps running, ``/`` answers 500."""
    path = root / PROJECT / "views.py"
    path.write_text(
        path.read_text().replace(
            'return render(request, "home.html"',
            'raise RuntimeError("AI service down")\n    return render(request, "home.html"',
        )
    )


def break_settings(root: Path) -> None:
    """Workers cannot boot: the gunicorn master halts."""
    path = root / PROJECT / "settings.py"
    path.write_text(path.read_text() + "\nimport a_module_that_is_not_installed\n")


def always_200(site: DjangoSite, seconds: float) -> list[int]:
    """Every status seen while requesting ``/`` for ``seconds``."""
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seen.append(http_get(site.base_url + "/", timeout=5)[0])
        time.sleep(0.02)
    return seen
