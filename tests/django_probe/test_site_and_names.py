"""Finding a Django site, its interpreter and settings, ``[django]`` in safepoint.toml, and the
migrations a checkpoint's paths hold: no Django runs here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from safepoint.config import load_config, parse_config
from safepoint.django.migrations import by_app, missing, on_disk
from safepoint.django.site import django_site
from safepoint.errors import ConfigError, ExitStatus


def test_on_disk_reads_migration_packages_only() -> None:
    paths = [
        "shop/migrations/__init__.py",
        "shop/migrations/0001_initial.py",
        "shop/migrations/0002_price.py",
        "shop/migrations/_helpers.py",  # Django skips names starting with _ or ~
        "shop/migrations/README.txt",
        "apps/blog/migrations/__init__.py",
        "apps/blog/migrations/0001_initial.py",
        "loose/migrations/0001_initial.py",  # no __init__.py: not a migrations package
        "migrations.py",
    ]
    assert on_disk(paths) == {
        "shop": ["0001_initial", "0002_price"],
        "blog": ["0001_initial"],
    }
    # The label Django gives the app wins over the folder's name.
    assert on_disk(paths, {"apps/blog/migrations": "weblog"})["weblog"] == ["0001_initial"]


def test_missing_names_what_the_other_side_lacks() -> None:
    applied = {"shop": ["0001_initial", "0002_price"], "gone": ["0001_initial"]}
    files = {"shop": ["0001_initial"]}
    assert missing(applied, files) == ["gone.0001_initial", "shop.0002_price"]
    assert missing(files, applied) == []
    assert by_app(["shop.0002_price", "gone.0001_initial"]) == {
        "shop": ["0002_price"],
        "gone": ["0001_initial"],
    }


def test_not_a_django_site_without_manage_py(tmp_path: Path) -> None:
    assert django_site(load_config(tmp_path)) is None


def test_interpreter_and_settings_found(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text(
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsite.settings")\n'
    )
    found = django_site(load_config(tmp_path))
    assert found is not None
    assert found.python == sys.executable and found.settings == "eventsite.settings"
    venv = tmp_path / "env"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "bin/python").write_text("#!/bin/sh\n")
    (venv / "bin/python").chmod(0o755)
    found = django_site(load_config(tmp_path))
    assert found is not None and found.python == str(venv / "bin/python")


def test_django_table_configures_both(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("")
    py = tmp_path / "py"
    py.write_text("#!/bin/sh\n")
    py.chmod(0o755)
    (tmp_path / "safepoint.toml").write_text(
        '[django]\npython = "py"\nsettings = "conf.prod"\ntimeout = 30\n'
    )
    found = django_site(load_config(tmp_path))
    assert found is not None
    assert (found.python, found.settings, found.timeout) == (str(py), "conf.prod", 30.0)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"pyhton": "x"}, "[django] pyhton: unknown key"),
        ({"python": 3}, "[django] python: expected a string"),
        ({"timeout": 0}, "[django] timeout: must be greater than 0"),
    ],
)
def test_django_table_refused(tmp_path: Path, table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"django": table}, root=tmp_path, source=tmp_path / "safepoint.toml")
    assert message in str(caught.value)
    assert caught.value.exit_code == ExitStatus.USAGE


def test_configured_interpreter_must_exist(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("")
    (tmp_path / "safepoint.toml").write_text('[django]\npython = "venv/bin/python"\n')
    with pytest.raises(ConfigError, match="not an executable interpreter"):
        django_site(load_config(tmp_path))


def test_own_migrations_found_outside_virtual_environments(tmp_path: Path) -> None:
    from safepoint.django.site import has_own_migrations

    (tmp_path / "venv/lib/django/contrib/auth/migrations").mkdir(parents=True)
    (tmp_path / "venv/pyvenv.cfg").write_text("")
    (tmp_path / "venv/lib/django/contrib/auth/migrations/__init__.py").write_text("")
    (tmp_path / "loose/migrations").mkdir(parents=True)  # not a package
    assert not has_own_migrations(tmp_path)
    (tmp_path / "apps/shop/migrations").mkdir(parents=True)
    (tmp_path / "apps/shop/migrations/__init__.py").write_text("")
    assert has_own_migrations(tmp_path)
