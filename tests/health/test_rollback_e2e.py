"""End to end with the real stack: Django under gunicorn on 127.0.0.1, broken the ways operators
meet, brought back by ``safepoint rollback`` and by ``safepoint guard``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.djangosite import PROJECT, DjangoSite
from tests.helpers import sp, sp_json

pytestmark = pytest.mark.slow  # real gunicorn, reloaded and restarted by each rollback


def configure(site: DjangoSite) -> Path:
    root = site.dir
    sp("init", cwd=root, check=True)
    (root / "safepoint.toml").write_text(
        f"""
[hooks]
after_restore = [{json.dumps(site.reload_hook)}]

[health]
timeout = 3
retries = 8
interval = 0.4

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
    return root


def break_urls(root: Path) -> None:
    path = root / PROJECT / "urls.py"
    path.write_text(path.read_text() + "\nurlpatterns = [  # unclosed\n")


def break_view(root: Path) -> None:
    path = root / PROJECT / "views.py"
    path.write_text(
        path.read_text().replace(
            'return render(request, "home.html"',
            'raise RuntimeError("AI service down")\n    return render(request, "home.html"',
        )
    )


def delete_template(root: Path) -> None:
    (root / "templates" / "home.html").unlink()


def test_rollback_brings_a_broken_site_back(django_site: DjangoSite) -> None:
    root = configure(django_site)
    created = sp_json("create", "--label", "stable", "--verify-health", cwd=root)
    assert created["marks"]["health"] == "good"
    for breaks in (break_urls, break_view, delete_template):
        breaks(root)
        django_site.reload()
        status, _ = django_site.get("/")
        assert status == 500, breaks.__name__
        proc = sp("rollback", "--yes", cwd=root)  # no reference: the newest known-good
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "all 2 health checks passed" in proc.stdout
        assert django_site.get("/")[0] == 200
        assert django_site.get()[0] == 200


def test_unhealthy_target_is_undone_automatically(django_site: DjangoSite) -> None:
    root = configure(django_site)
    sp("create", "--label", "stable", "--verify-health", cwd=root, check=True)
    break_view(root)
    sp("create", "--label", "broken", cwd=root, check=True)  # not verified: nobody looked
    sp("rollback", "stable", "--yes", cwd=root, check=True)
    assert django_site.get("/")[0] == 200
    views = (root / PROJECT / "views.py").read_text()

    proc = sp("rollback", "broken", "--yes", "--json", cwd=root)
    assert proc.returncode == 4, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["undone"] and not doc["health"]["ok"] and doc["undo_health"]["ok"]
    assert "undone" in proc.stderr and "back where it was" in proc.stderr
    assert (root / PROJECT / "views.py").read_text() == views
    assert django_site.get("/")[0] == 200
    marks = {c["label"]: c["marks"]["health"] for c in sp_json("list", cwd=root)}
    assert marks["broken"] == "bad" and marks["stable"] == "good"


def test_create_verify_health_marks_bad_when_failing(django_site: DjangoSite) -> None:
    root = configure(django_site)
    delete_template(root)
    django_site.reload()
    (root / "safepoint.toml").write_text(
        (root / "safepoint.toml").read_text().replace("retries = 8", "retries = 1")
    )
    proc = sp("create", "--label", "nope", "--verify-health", cwd=root)
    assert proc.returncode == 4
    assert "marked bad" in proc.stderr or "marked bad" in proc.stdout
    assert sp_json("show", "nope", cwd=root)["marks"]["health"] == "bad"
    assert sp("health", cwd=root).returncode == 4


def test_guard_rolls_back_after_consecutive_failures_once(django_site: DjangoSite) -> None:
    root = configure(django_site)
    sp("create", "--label", "stable", "--verify-health", cwd=root, check=True)
    assert sp("guard", "--once", cwd=root).returncode == 0
    break_urls(root)
    django_site.reload()
    first = sp("guard", "--once", "--failures", "2", cwd=root)
    assert first.returncode == 4 and "unhealthy (1/2)" in first.stdout
    assert django_site.get("/")[0] == 500  # one failure is not enough
    second = sp("guard", "--once", "--failures", "2", cwd=root)
    assert "rolling back to known-good checkpoint" in second.stdout, second.stdout
    assert "rolled back to" in second.stdout
    assert django_site.get("/")[0] == 200
    third = sp("guard", "--once", "--failures", "2", cwd=root)
    assert third.returncode == 0 and "re-armed" in third.stdout
    kinds = [c["kind"] for c in sp_json("list", cwd=root)]
    assert kinds.count("safety") == 1  # exactly one automatic rollback
