"""``init`` in a site whose gunicorn runs: ``[app]`` filled from the master's command line, a
check proposed on its bind address, and the result works for a rollback as written."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.djangosite import PROJECT, DjangoSite
from tests.helpers import sp, sp_json

pytestmark = pytest.mark.slow


def test_init_fills_app_from_the_running_master(django_site: DjangoSite) -> None:
    root = django_site.dir
    doc = sp_json("init", cwd=root)
    master = django_site.master_pid()
    assert doc["gunicorn"] == master
    assert doc["health_url"] == f"http://127.0.0.1:{django_site.port}/"
    text = (root / "safepoint.toml").read_text()
    app = tomllib.loads(text)["app"]
    assert app["server"] == "gunicorn" and app["pidfile"] == "logs/gunicorn.pid"
    assert "-m gunicorn" in app["start"] and app["start"].endswith(" -D")
    assert f'#url = "http://127.0.0.1:{django_site.port}/"' in text

    # As written (with the proposed check turned on), it reloads the app on a rollback.
    (root / "safepoint.toml").write_text(
        text.replace("#[[health.http]]\n#url", "[[health.http]]\nurl").replace(
            "settle = 2", "settle = 0.5"
        )
    )
    sp("create", "--label", "stable", "--verify-health", cwd=root, check=True)
    views = root / PROJECT / "views.py"
    views.write_text(views.read_text().replace("render(", "raise RuntimeError(); render("))
    django_site.reload()
    assert django_site.get("/")[0] == 500
    proc = sp("rollback", "--yes", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"gunicorn reloaded (master {master}" in proc.stdout
    assert django_site.get("/")[0] == 200


def test_init_without_a_running_app_writes_a_commented_example(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    doc = sp_json("init", cwd=root)
    assert doc["gunicorn"] is None
    text = (root / "safepoint.toml").read_text()
    assert "#[app]" in text and "app" not in tomllib.loads(text)
