"""The Django + gunicorn fixture itself: it serves, it breaks the ways real sites break, and its
reload hook brings it back once the files are good again. Also the health checks and hooks of
safepoint against that real site."""

from __future__ import annotations

import errno
import json
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from safepoint.config import CommandCheck, HealthConfig, HttpCheck
from safepoint.health import HookError, run_checks, run_hooks
from tests.djangosite import DjangoSite, create_site, last_reason

pytestmark = pytest.mark.slow  # every test starts a real gunicorn master (Django boots per worker)


def health_config(site: DjangoSite) -> HealthConfig:
    return HealthConfig(
        timeout=2,
        retries=1,
        settle=0,  # one look at each check: these tests judge the site, not the settle window
        http=(HttpCheck(site.health_url, 200, '"ok"'), HttpCheck(site.base_url + "/")),
        command=(CommandCheck(f"{sys.executable} manage.py check"),),
    )


def test_site_serves(django_site: DjangoSite) -> None:
    status, body = django_site.get()
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, body = django_site.get("/")
    assert status == 200 and "<h1>Event site</h1>" in body
    assert django_site.get("/missing/")[0] == 404
    assert django_site.pid_file.read_text().strip() == str(django_site.master_pid())
    assert (django_site.dir / "manage.py").is_file()


def test_the_port_is_held_from_creation_until_gunicorn_serves_it(tmp_path: Path) -> None:
    """Under xdist another worker's server could take a port probed free before gunicorn binds
    it (and a test would then talk to the wrong site): the port is held until the start."""
    site = create_site(tmp_path)
    try:
        with socket.socket() as other, pytest.raises(OSError) as taken:
            other.bind(("127.0.0.1", site.port))
        assert taken.value.errno == errno.EADDRINUSE
        site.start()
        assert site.get()[0] == 200
    finally:
        site.stop()
    with socket.socket() as other:  # given back once the site stops
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", site.port))


def test_health_checks_pass_on_the_real_site(django_site: DjangoSite) -> None:
    report = run_checks(health_config(django_site), root=django_site.dir)
    assert report.ok, report.summary()
    assert [r.detail for r in report.results] == ["200 OK", "200 OK", "exit 0"]


def test_syntax_error_in_urls_gives_500_and_the_hook_brings_it_back(
    django_site: DjangoSite,
) -> None:
    urls = django_site.dir / "mysite" / "urls.py"
    good = urls.read_bytes()
    master = django_site.master_pid()
    urls.write_bytes(good + b"\nurlpatterns += [\n")

    django_site.reload()
    # urls.py is imported at the first request, not at worker boot: the master survives.
    assert django_site.get()[0] == 500
    assert django_site.master_pid() == master
    report = run_checks(health_config(django_site), root=django_site.dir)
    assert [r.ok for r in report.results] == [False, False, False]
    assert report.results[0].detail == "status 500, expected 200"

    urls.write_bytes(good)
    run_hooks([django_site.reload_hook], root=django_site.dir, timeout=30)
    assert django_site.get()[0] == 200
    assert run_checks(health_config(django_site), root=django_site.dir).ok


def test_a_view_that_raises_gives_500(django_site: DjangoSite) -> None:
    views = django_site.dir / "mysite" / "views.py"
    good = views.read_text()
    views.write_text(good.replace('return JsonResponse({"status": "ok"})', "raise RuntimeError"))

    django_site.reload()
    assert django_site.get()[0] == 500
    assert django_site.get("/")[0] == 200  # only the one view is broken

    views.write_text(good)
    run_hooks([django_site.reload_hook], root=django_site.dir, timeout=30)
    assert django_site.get()[0] == 200


def test_a_deleted_template_gives_500_after_a_reload(django_site: DjangoSite) -> None:
    template = django_site.dir / "templates" / "home.html"
    good = template.read_bytes()
    for _ in range(6):  # every worker renders (and caches) the page
        assert django_site.get("/")[0] == 200
    template.unlink()
    # Django's cached template loader: without a reload the workers do not notice.
    assert django_site.get("/")[0] == 200

    django_site.reload()
    assert django_site.get("/")[0] == 500
    assert django_site.get()[0] == 200

    template.write_bytes(good)
    run_hooks([django_site.reload_hook], root=django_site.dir, timeout=30)
    assert django_site.get("/")[0] == 200


def test_broken_settings_stop_gunicorn_and_the_hook_restarts_it(
    django_site: DjangoSite, assert_gone: Callable[[int], None]
) -> None:
    settings = django_site.dir / "mysite" / "settings.py"
    good = settings.read_bytes()
    old_master = django_site.master_pid()
    assert old_master is not None
    settings.write_bytes(good + b"\nimport a_module_that_is_not_installed\n")

    # The new workers cannot boot, so the master halts, taking the healthy old workers along;
    # the hook's attempt at a fresh master fails the same way, and says why.
    with pytest.raises(HookError, match=r"failed with exit 1: gunicorn exited: .*failed to boot"):
        run_hooks([django_site.reload_hook], root=django_site.dir, timeout=30)
    assert django_site.master_pid() is None
    report = run_checks(health_config(django_site), root=django_site.dir)
    assert [r.detail for r in report.results[:2]] == ["connection refused"] * 2
    assert report.results[2].detail.startswith("exit 1: ModuleNotFoundError")

    settings.write_bytes(good)
    run_hooks([django_site.reload_hook], root=django_site.dir, timeout=30)
    assert django_site.get()[0] == 200
    new_master = django_site.master_pid()
    assert new_master is not None and new_master != old_master

    # The master the hook started is not a child of this process; stop() still finds it.
    django_site.stop()
    assert_gone(new_master)


def test_reload_hook_runs_from_the_site_root_as_a_shell_string(django_site: DjangoSite) -> None:
    assert str(django_site.dir) in django_site.reload_hook
    results = run_hooks([django_site.reload_hook], root=django_site.dir, timeout=30)
    assert results[0].output == "gunicorn reloaded"
    assert django_site.get()[0] == 200


def test_the_reason_of_a_master_that_died_in_its_halt_is_its_workers_boot_failure(
    tmp_path: Path,
) -> None:
    """gunicorn 27.0.1, two workers failing at once: the master logged both exits with code 3
    and died inside its halt, before its "Reason:" line (a CI log, cut short)."""
    log = tmp_path / "gunicorn.log"
    log.write_text(
        "[2026-12-04 10:30:22 +0000] [16918] [INFO] Starting gunicorn 27.0.1\n"
        "[2026-12-04 10:30:24 +0000] [16918] [ERROR] Worker (pid:16919) exited with code 3.\n"
        "[2026-12-04 10:30:24 +0000] [16922] [INFO] Worker exiting (pid: 16922)\n"
        "[2026-12-04 10:30:25 +0000] [16918] [ERROR] Worker (pid:16922) exited with code 3.\n"
    )
    assert last_reason(log, wait=0.2).startswith("Worker failed to boot.")
    with log.open("a") as f:  # when the Reason line is there, it is the reason
        f.write("[2026-12-04 10:30:28 +0000] [16918] [ERROR] Reason: App failed to load.\n")
    assert last_reason(log, wait=0.2) == "[ERROR] Reason: App failed to load."
