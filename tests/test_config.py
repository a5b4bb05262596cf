"""``parse_config`` on the parsed TOML (dicts), without a subprocess: every refusal names the
file, the table and key, and the reason, and raises ConfigError (exit 2); accepted values come
back as the documented defaults, types and paths."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from safepoint.config import (
    COMMAND,
    GUNICORN,
    MAX_COUNT,
    MAX_INTERVAL,
    MAX_TIMEOUT,
    Config,
    parse_config,
)
from safepoint.errors import ConfigError, ExitStatus

HTTP = {"url": "http://127.0.0.1:8000/health/"}


def parse(tmp_path: Path, data: dict[str, Any]) -> Config:
    root = tmp_path / "site"
    root.mkdir(exist_ok=True)
    return parse_config(data, root=root, source=root / "safepoint.toml")


def refused(tmp_path: Path, data: dict[str, Any]) -> str:
    """The one-line message of the ConfigError that ``data`` raises, checked to start with the
    file's path."""
    with pytest.raises(ConfigError) as info:
        parse(tmp_path, data)
    assert info.value.exit_code == ExitStatus.USAGE
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'site' / 'safepoint.toml'}: "), message
    assert "\n" not in message
    return message.split(": ", 1)[1]


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    config = parse(tmp_path, {})
    root = tmp_path / "site"
    assert config.repository == root / ".safepoint" and not config.repository_named
    assert config.exclude == () and config.after_restore == () and config.app is None
    h = config.health
    assert (h.timeout, h.retries, h.interval, h.settle, h.deadline) == (5.0, 10, 1.0, 2.0, 20.0)
    assert not h.configured
    g = config.guard
    assert (g.interval, g.failures, g.cooldown) == (30.0, 3, 600.0)


def test_every_table_read_back(tmp_path: Path) -> None:
    config = parse(
        tmp_path,
        {
            "repository": {"path": "/srv/backups/site"},
            "files": {"exclude": ["media/", "*.log"]},
            "hooks": {"after_restore": ["venv/bin/python manage.py migrate"]},
            "health": {
                "timeout": 3,  # an integer where a number is expected is fine
                "retries": 4,
                "settle": 0,
                "http": [{**HTTP, "status": 204, "body_contains": "ok"}],
                "command": [{"run": "true"}],
            },
            "guard": {"interval": 10, "failures": 2, "cooldown": 0},
        },
    )
    assert config.repository == Path("/srv/backups/site") and config.repository_named
    assert config.exclude == ("media/", "*.log")
    assert config.after_restore == ("venv/bin/python manage.py migrate",)
    assert config.health.timeout == 3.0 and isinstance(config.health.timeout, float)
    assert config.health.retries == 4 and config.health.settle == 0.0
    assert [(c.url, c.status, c.body_contains) for c in config.health.http] == [
        (HTTP["url"], 204, "ok")
    ]
    assert [c.run for c in config.health.command] == ["true"]
    assert (config.guard.interval, config.guard.failures, config.guard.cooldown) == (10.0, 2, 0.0)


@pytest.mark.parametrize(
    ("data", "where", "reason"),
    [
        ({"helth": {}}, "helth", "unknown key (expected one of: repository, files, hooks,"),
        ({"health": {"timout": 5}}, "[health] timout", "unknown key (expected one of: timeout,"),
        ({"files": {"excludes": []}}, "[files] excludes", "unknown key (expected one of: exclude)"),
        ({"repository": {"dir": "x"}}, "[repository] dir", "unknown key"),
        ({"hooks": {"before": []}}, "[hooks] before", "unknown key"),
        ({"guard": {"retries": 3}}, "[guard] retries", "unknown key"),
        ({"health": {"http": [{**HTTP, "method": "GET"}]}}, "[health.http][0] method", "unknown"),
        (
            {"health": {"command": [{"run": "true"}, {"cmd": "x"}]}},
            "[health.command][1] cmd",
            "unknown key (expected one of: run)",
        ),
    ],
)
def test_unknown_keys_are_refused_by_name(
    tmp_path: Path, data: dict[str, Any], where: str, reason: str
) -> None:
    """A typo in [health] must not silently turn the health checks off."""
    message = refused(tmp_path, data)
    assert message.startswith(f"{where}: {reason}"), message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"health": 5}, "health: expected a table"),
        ({"health": {"timeout": "5"}}, "[health] timeout: expected a number, got '5'"),
        ({"health": {"timeout": True}}, "[health] timeout: expected a number, got True"),
        ({"health": {"retries": 2.5}}, "[health] retries: expected an integer, got 2.5"),
        ({"health": {"retries": True}}, "[health] retries: expected an integer, got True"),
        ({"guard": {"failures": "3"}}, "[guard] failures: expected an integer, got '3'"),
        ({"files": {"exclude": "media/"}}, "[files] exclude: expected a list of strings"),
        ({"files": {"exclude": ["media/", 3]}}, "[files] exclude: expected a list of strings"),
        ({"hooks": {"after_restore": "migrate"}}, "[hooks] after_restore: expected a list of"),
        ({"repository": {"path": 7}}, "[repository] path: expected a string, got 7"),
        ({"repository": {"path": " "}}, "[repository] path: must not be empty"),
        (
            {"health": {"http": HTTP}},
            "[health] http: expected an array of tables ([[health.http]])",
        ),
        ({"health": {"command": ["true"]}}, "[health] command: expected an array of tables"),
        ({"health": {"http": [{}]}}, "[health.http][0] url: missing (required)"),
        ({"health": {"http": [{"url": ""}]}}, "[health.http][0] url: must not be empty"),
        ({"health": {"http": [{**HTTP, "status": "200"}]}}, "[health.http][0] status: expected an"),
        ({"health": {"command": [{}]}}, "[health.command][0] run: missing (required)"),
    ],
)
def test_wrong_types_name_the_key_and_the_value(
    tmp_path: Path, data: dict[str, Any], expected: str
) -> None:
    message = refused(tmp_path, data)
    assert message.startswith(expected), message


@pytest.mark.parametrize(
    ("table", "key", "value", "reason"),
    [
        ("health", "timeout", 0.0, "must be greater than 0"),
        ("health", "timeout", -1.5, "must be greater than 0"),
        ("health", "timeout", MAX_TIMEOUT + 1, f"must be at most {MAX_TIMEOUT:g}"),
        ("health", "timeout", math.inf, "must be a finite number"),
        ("health", "timeout", math.nan, "must be a finite number"),
        ("health", "retries", 0, "must be at least 1"),
        ("health", "retries", MAX_COUNT + 1, f"must be at most {MAX_COUNT}"),
        ("health", "interval", -1.0, "must be at least 0"),
        ("health", "interval", 1e300, f"must be at most {MAX_INTERVAL:g}"),
        ("health", "settle", -0.5, "must be at least 0"),
        ("health", "deadline", 0.0, "must be greater than 0"),
        ("guard", "interval", 0.0, "must be greater than 0"),
        ("guard", "interval", -math.inf, "must be a finite number"),
        ("guard", "failures", 0, "must be at least 1"),
        ("guard", "cooldown", MAX_INTERVAL * 2, f"must be at most {MAX_INTERVAL:g}"),
    ],
)
def test_numbers_out_of_bounds_name_the_bound_and_the_value(
    tmp_path: Path, table: str, key: str, value: float, reason: str
) -> None:
    message = refused(tmp_path, {table: {key: value}})
    assert message == f"[{table}] {key}: {reason}, got {value!r}"


@pytest.mark.parametrize(("table", "key", "value"), [("health", "timeout", MAX_TIMEOUT),
    ("health", "retries", MAX_COUNT), ("health", "retries", 1), ("health", "interval", 0),
    ("guard", "cooldown", MAX_INTERVAL), ("guard", "failures", 1)])  # fmt: skip
def test_the_bounds_themselves_are_accepted(
    tmp_path: Path, table: str, key: str, value: float
) -> None:
    config = parse(tmp_path, {table: {key: value}})
    assert getattr(getattr(config, table), key) == value


@pytest.mark.parametrize("status", [99, 600, 0])
def test_an_http_status_outside_100_599_is_refused(tmp_path: Path, status: int) -> None:
    message = refused(tmp_path, {"health": {"http": [{**HTTP, "status": status}]}})
    assert message == (
        f"[health.http][0] status: must be an HTTP status code (100-599), got {status}"
    )


@pytest.mark.parametrize(
    ("health", "settle", "deadline"),
    [
        ({"settle": 20}, 20, 20),  # the default deadline
        ({"settle": 5, "deadline": 5}, 5, 5),
        ({"settle": 30, "deadline": 10}, 30, 10),
        ({"deadline": 2}, 2, 2),  # the default settle window
    ],
)
def test_a_settle_window_that_does_not_fit_in_the_deadline_is_refused(
    tmp_path: Path, health: dict[str, float], settle: float, deadline: float
) -> None:
    message = refused(tmp_path, {"health": health})
    assert message == (
        f"[health] settle: the settle window ({settle:g}s) must be shorter than the deadline "
        f"({deadline:g}s), which also holds the attempts before the first pass"
    )


def test_a_settle_window_just_inside_the_deadline_is_accepted(tmp_path: Path) -> None:
    config = parse(tmp_path, {"health": {"settle": 19.5}})
    assert (config.health.settle, config.health.deadline) == (19.5, 20.0)


@pytest.mark.parametrize(
    ("path", "reason"),
    [(".", "the site root itself"), ("./", "the site root itself"), ("..", "a parent of the site")],
)
def test_the_repository_cannot_be_the_root_or_above(tmp_path: Path, path: str, reason: str) -> None:
    message = refused(tmp_path, {"repository": {"path": path}})
    assert message.startswith(f"[repository] path: the repository cannot be {reason}"), message
    assert message.endswith(f"got {str(tmp_path / 'site' / path)!r}")


def test_a_relative_repository_is_taken_from_the_root(tmp_path: Path) -> None:
    config = parse(tmp_path, {"repository": {"path": "../backups/site"}})
    assert config.repository == tmp_path / "site" / "../backups/site"
    assert config.repository_named


# -- [app] --------------------------------------------------------------------------------------


def app(tmp_path: Path, **keys: Any) -> Any:
    return parse(tmp_path, {"app": keys}).app


def test_gunicorn_app_with_a_relative_pidfile_is_resolved_against_the_root(
    tmp_path: Path,
) -> None:
    got = app(tmp_path, server=GUNICORN, pidfile="run/gunicorn.pid", start="gunicorn -D")
    assert got.server == GUNICORN and got.pidfile == tmp_path / "site" / "run" / "gunicorn.pid"
    assert got.start == "gunicorn -D" and got.reload is None
    assert got.timeout == 60.0 and got.workers is None


def test_gunicorn_app_with_an_absolute_pidfile_and_workers(tmp_path: Path) -> None:
    got = app(tmp_path, server=GUNICORN, pidfile="/run/site.pid", workers=3, timeout=5)
    assert got.pidfile == Path("/run/site.pid") and got.workers == 3 and got.timeout == 5.0


def test_command_app(tmp_path: Path) -> None:
    got = app(tmp_path, server=COMMAND, reload="systemctl reload site")
    assert (got.server, got.reload, got.pidfile, got.start) == (
        COMMAND,
        "systemctl reload site",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({}, "[app] server: missing (required)"),
        ({"server": "uwsgi"}, '[app] server: expected "gunicorn" or "command", got \'uwsgi\''),
        ({"server": GUNICORN}, "[app] pidfile: missing (required)"),
        ({"server": COMMAND}, "[app] reload: missing (required)"),
        ({"server": GUNICORN, "pidfile": "a", "reload": "x"}, "[app] reload: not used with server"),
        ({"server": COMMAND, "reload": "x", "pidfile": "a"}, "[app] pidfile: not used with server"),
        ({"server": COMMAND, "reload": "x", "start": "y"}, '[app] start: not used with server = "'),
        ({"server": COMMAND, "reload": "x", "workers": 2}, "[app] workers: not used with server"),
        ({"server": GUNICORN, "pidfile": "a", "bind": "x"}, "[app] bind: unknown key"),
        ({"server": GUNICORN, "pidfile": "a", "workers": 0}, "[app] workers: must be greater than"),
        ({"server": GUNICORN, "pidfile": "a", "workers": "2"}, "[app] workers: expected an int"),
        ({"server": GUNICORN, "pidfile": "a", "timeout": 0}, "[app] timeout: must be greater than"),
        ({"server": GUNICORN, "pidfile": "a", "timeout": 3601}, "[app] timeout: must be at most"),
        ({"server": GUNICORN, "pidfile": ""}, "[app] pidfile: must not be empty"),
    ],
)
def test_bad_app_tables_are_refused_by_key(
    tmp_path: Path, keys: dict[str, Any], expected: str
) -> None:
    message = refused(tmp_path, {"app": keys})
    assert message.startswith(expected), message


def test_app_must_be_a_table(tmp_path: Path) -> None:
    assert refused(tmp_path, {"app": "gunicorn"}) == "app: expected a table"


def test_of_several_problems_one_is_reported(tmp_path: Path) -> None:
    """Three problems: one line, about one key (unknown keys are looked at first)."""
    message = refused(tmp_path, {"health": {"timeout": 0, "retries": 0, "typo": 1}})
    assert re.fullmatch(r"\[health\] typo: unknown key \(expected one of: [a-z, ]+\)", message)
