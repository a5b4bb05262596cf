"""``safepoint.toml``: finding the site root, reading and validating the configuration.

The file is small and hand-edited, so every problem is reported with the file, the key and the
reason, and unknown keys are rejected rather than silently ignored (a typo in ``[health]`` must not
turn the health checks off).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from safepoint.durations import parse_duration
from safepoint.errors import ConfigError
from safepoint.tomltable import Table, bounded

CONFIG_NAME = "safepoint.toml"
IGNORE_NAME = ".safepointignore"
DEFAULT_REPOSITORY = ".safepoint"
# A root's own state for a repository outside it (store/state.py); never part of a tree.
STATE_DIR = ".safepoint-state"


@dataclass(frozen=True)
class HttpCheck:
    url: str
    status: int = 200
    body_contains: str | None = None


@dataclass(frozen=True)
class CommandCheck:
    run: str


@dataclass(frozen=True)
class HealthConfig:
    timeout: float = 5.0
    retries: int = 10
    interval: float = 1.0
    settle: float = 2.0
    """Seconds every check must keep passing after its first pass (the settle window)."""
    deadline: float = 20.0
    """Seconds the whole proof (retries, then the settle window) may take."""
    http: tuple[HttpCheck, ...] = ()
    command: tuple[CommandCheck, ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self.http or self.command)


@dataclass(frozen=True)
class DatabaseConfig:
    """``[database]``: the site's database, snapshotted with checkpoints (see dbsnap/)."""

    engine: str
    """``sqlite`` or ``postgresql``."""
    path: Path | None = None
    """SQLite: the database file, absolute (resolved against the root when read)."""
    url: str | None = None
    """PostgreSQL: a libpq URL without a password (PGPASSWORD or ~/.pgpass give that)."""
    snapshot: str = "ask"
    """``always`` (with every ``create``) or ``ask`` (with ``--with-db`` only)."""
    timeout: float = 3600.0
    """Seconds pg_dump/pg_restore may take."""


@dataclass(frozen=True)
class GuardConfig:
    interval: float = 30.0
    failures: int = 3
    cooldown: float = 600.0


GUNICORN, COMMAND = "gunicorn", "command"


@dataclass(frozen=True)
class AppConfig:
    """``[app]``: how to make the running app serve the files as they are now."""

    server: str
    """``gunicorn`` (HUP the master, wait for new workers) or ``command`` (run ``reload``)."""
    pidfile: Path | None = None
    """gunicorn's pid file, absolute (resolved against the root when read)."""
    start: str | None = None
    """Shell command run in the root when the master is not running; must return once the
    server runs in the background (gunicorn ``-D``)."""
    reload: str | None = None
    """With ``server = "command"``: the reload command (e.g. ``systemctl reload eventsite``)."""
    timeout: float = 60.0
    """Seconds a reload (or start) may take before it counts as failed."""
    workers: int | None = None
    """How many workers a reloaded master must run; None: as many as before (from /proc)."""


@dataclass(frozen=True)
class DjangoConfig:
    """``[django]``: how to ask the site's own Django (safepoint/django/)."""

    python: str | None = None
    """The site's interpreter (relative to the root, or absolute); default: the venv's."""
    settings: str | None = None
    """DJANGO_SETTINGS_MODULE; default: the one manage.py sets."""
    timeout: float = 600.0
    """Seconds one ``manage.py migrate`` may take."""


@dataclass(frozen=True)
class Config:
    root: Path
    source: Path | None
    repository: Path
    exclude: tuple[str, ...] = ()
    repository_named: bool = False  # [repository] path is in the file (not the default)
    mirror: str | None = None  # [repository] mirror: where each create copies its checkpoints
    url: str | None = None  # [repository] url: a remote repository (s3://BUCKET/PREFIX)
    after_restore: tuple[str, ...] = ()
    health: HealthConfig = field(default_factory=HealthConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    app: AppConfig | None = None
    django: DjangoConfig | None = None
    database: DatabaseConfig | None = None
    retention: RetentionConfig = field(default_factory=lambda: RetentionConfig())


def find_root(start: Path | None = None, *, explicit: str | os.PathLike[str] | None = None) -> Path:
    """The site root: ``explicit`` (``--root``/``SAFEPOINT_ROOT``) or the nearest folder upwards
    from ``start`` that holds ``safepoint.toml``."""
    if explicit is not None:
        root = Path(explicit).absolute()
        if not root.is_dir():
            raise ConfigError(f"site root {root} does not exist or is not a directory")
        return root
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise ConfigError(
        f"no {CONFIG_NAME} found in {here} or above; run 'safepoint init' in the site root "
        "or pass --root"
    )


def load_config(root: Path) -> Config:
    """Read ``root/safepoint.toml``; a root without one gets the defaults."""
    path = root / CONFIG_NAME
    if not path.exists():
        return Config(root=root, source=None, repository=root / DEFAULT_REPOSITORY)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(data, root=root, source=path)


def parse_config(data: Mapping[str, Any], *, root: Path, source: Path) -> Config:
    t = Table(data, source, "")
    t.only(
        "repository", "files", "hooks", "health", "guard", "app", "django", "database", "retention"
    )

    repo = t.table("repository")
    repo.only("path", "url", "mirror")
    repo_path = Path(repo.get("path", str, DEFAULT_REPOSITORY)).expanduser()
    _check_repository(repo, root / repo_path, root)
    url = repo.get("url", str, None, check=_repository_url)
    if url is not None and "path" in data.get("repository", {}):
        raise repo.fail("url", "set either path (a folder) or url (a remote repository), not both")
    mirror = repo.get("mirror", str, None)  # a path or URL: ops/site.open_other judges it

    files = t.table("files")
    files.only("exclude")
    hooks = t.table("hooks")
    hooks.only("after_restore")

    health = t.table("health")
    health.only("timeout", "retries", "interval", "settle", "deadline", "http", "command")
    http = tuple(
        HttpCheck(
            url=c.get("url", str, required=True),
            status=c.get("status", int, 200, check=_http_status),
            body_contains=c.get("body_contains", str, None),
        )
        for c in health.tables("http", ("url", "status", "body_contains"))
    )
    command = tuple(
        CommandCheck(run=c.get("run", str, required=True))
        for c in health.tables("command", ("run",))
    )
    settle = health.get("settle", float, 2.0, check=_not_negative)
    deadline = health.get("deadline", float, 20.0, check=_positive)
    problem = settle_problem(settle, deadline)
    if problem:
        raise health.fail("settle", problem)
    guard = t.table("guard")
    guard.only("interval", "failures", "cooldown")

    return Config(
        root=root,
        source=source,
        repository=repo_path if repo_path.is_absolute() else root / repo_path,
        repository_named="path" in data.get("repository", {}),
        mirror=mirror,
        url=url,
        exclude=files.strings("exclude"),
        after_restore=hooks.strings("after_restore"),
        health=HealthConfig(
            timeout=health.get("timeout", float, 5.0, check=_timeout),
            retries=health.get("retries", int, 10, check=_count),
            interval=health.get("interval", float, 1.0, check=_interval),
            settle=settle,
            deadline=deadline,
            http=http,
            command=command,
        ),
        guard=GuardConfig(
            interval=guard.get("interval", float, 30.0, check=_poll),
            failures=guard.get("failures", int, 3, check=_count),
            cooldown=guard.get("cooldown", float, 600.0, check=_interval),
        ),
        app=_app_config(t, root),
        django=_django_config(t),
        database=database_config(t, root),
        retention=_retention_config(t),
    )


def settle_problem(settle: float, deadline: float) -> str | None:
    """The settle window must fit inside the deadline with time left for a first pass."""
    if settle >= deadline:
        return (
            f"the settle window ({settle:g}s) must be shorter than the deadline ({deadline:g}s), "
            "which also holds the attempts before the first pass"
        )
    return None




def _app_config(t: Table, root: Path) -> AppConfig | None:
    if "app" not in t.data:
        return None
    app = t.table("app")
    app.only("server", "pidfile", "start", "reload", "timeout", "workers")
    server = app.get("server", str, required=True)
    if server not in (GUNICORN, COMMAND):
        raise app.fail("server", f'expected "{GUNICORN}" or "{COMMAND}", got {server!r}')
    unused = ("pidfile", "start", "workers") if server == COMMAND else ("reload",)
    for key in unused:
        if key in app.data:
            raise app.fail(key, f'not used with server = "{server}"')
    pidfile = app.get("pidfile", str, required=server == GUNICORN)
    path = Path(pidfile).expanduser() if pidfile else None
    return AppConfig(
        server=server,
        pidfile=(path if path.is_absolute() else root / path) if path else None,
        start=app.get("start", str, None),
        reload=app.get("reload", str, required=server == COMMAND),
        timeout=app.get("timeout", float, 60.0, check=_timeout),
        workers=app.get("workers", int, None, check=_positive),
    )


SQLITE, POSTGRESQL = "sqlite", "postgresql"
ALWAYS, ASK = "always", "ask"


def database_config(t: Table, root: Path) -> DatabaseConfig | None:
    """``[database]``, or None when the file has none. A PostgreSQL database is named by
    ``url`` or ``name`` (the rest from libpq's defaults and PG* variables); a password in the
    URL is refused: the configuration is not a secret store."""
    if "database" not in t.data:
        return None
    db = t.table("database")
    db.only("engine", "path", "url", "name", "snapshot", "timeout")
    engine = db.get("engine", str, required=True)
    if engine not in (SQLITE, POSTGRESQL):
        raise db.fail("engine", f'expected "{SQLITE}" or "{POSTGRESQL}", got {engine!r}')
    unused = ("url", "name") if engine == SQLITE else ("path",)
    for key in unused:
        if key in db.data:
            raise db.fail(key, f'not used with engine = "{engine}"')
    snapshot = db.get("snapshot", str, ASK)
    if snapshot not in (ALWAYS, ASK):
        raise db.fail("snapshot", f'expected "{ALWAYS}" or "{ASK}", got {snapshot!r}')
    timeout = db.get("timeout", float, 3600.0, check=_timeout)
    if engine == SQLITE:
        path = Path(db.get("path", str, required=True)).expanduser()
        return DatabaseConfig(
            engine,
            path=path if path.is_absolute() else root / path,
            snapshot=snapshot,
            timeout=timeout,
        )
    if ("url" in db.data) == ("name" in db.data):
        raise db.fail("url", 'give exactly one of url = "postgresql://USER@HOST:PORT/DB" or name')
    url = db.get("url", str, None)
    problem = _pg_url(url) if url is not None else None
    if problem:  # said without the value: it may hold a password
        raise db.fail("url", problem)
    if url is None:
        name = db.get("name", str, required=True)
        url = "postgresql:///" + quote(name, safe="")
    return DatabaseConfig(engine, url=url, snapshot=snapshot, timeout=timeout)


def _pg_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres"):
        return "must start with postgresql://"
    if parts.password is not None:
        return "must not hold a password (use PGPASSWORD or ~/.pgpass)"
    if not parts.path.strip("/"):
        return "must name the database (postgresql://USER@HOST:PORT/DBNAME)"
    return None


def _django_config(t: Table) -> DjangoConfig | None:
    if "django" not in t.data:
        return None
    dj = t.table("django")
    dj.only("python", "settings", "timeout")
    return DjangoConfig(
        python=dj.get("python", str, None),
        settings=dj.get("settings", str, None),
        timeout=dj.get("timeout", float, 600.0, check=_timeout),
    )


# -- [retention]: the policy of ``prune`` (ops/retention.py) ------------------------------------
DEFAULT_SAFETY_WITHIN = "7d"
MAX_KEEP = 1_000_000  # more than any history holds


@dataclass(frozen=True)
class RetentionConfig:
    """``[retention]``: the ``--keep-*`` options of ``prune`` (0, empty: the rule is off)."""

    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: str | None = None
    keep_label: tuple[str, ...] = ()
    keep_safety_within: str = DEFAULT_SAFETY_WITHIN
    auto: bool = False
    """Prune with this policy after each ``create`` (and a rollback's safety checkpoint)."""


QUOTAS = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


def _retention_config(t: Table) -> RetentionConfig:
    r = t.table("retention")
    r.only(*QUOTAS, "keep_within", "keep_label", "keep_safety_within", "auto")
    auto = r.data.get("auto", False)
    if not isinstance(auto, bool):
        raise r.fail("auto", f"expected true or false, got {auto!r}")
    durations = {}
    for key in ("keep_within", "keep_safety_within"):
        text = r.get(key, str, None)
        if text is not None:
            try:
                parse_duration(text)
            except ConfigError as exc:
                raise r.fail(key, str(exc)) from None
        durations[key] = text
    config = RetentionConfig(
        **{key: r.get(key, int, 0, check=_keep) for key in QUOTAS},
        keep_within=durations["keep_within"],
        keep_label=r.strings("keep_label"),
        keep_safety_within=durations["keep_safety_within"] or DEFAULT_SAFETY_WITHIN,
        auto=auto,
    )
    rules = [getattr(config, key) for key in QUOTAS] + [config.keep_within, config.keep_label]
    if auto and not any(rules):
        raise r.fail("auto", "needs a policy: keep_last, keep_daily, ... or keep_within")
    return config


# Upper bounds of the numbers (TOML allows inf, nan and 1e300, which overflow timers and
# sleeps: a rollback would switch files and then crash before its verdict). Checked when the
# file is loaded, before any command changes anything.
MAX_TIMEOUT = 3600.0  # seconds: one health attempt, one hook
MAX_INTERVAL = 86400.0  # seconds: between attempts, polls, rollbacks
MAX_COUNT = 1000  # retries, failures
MAX_NUMBER = 1e6  # any other number (see _positive)

_timeout = bounded(0, MAX_TIMEOUT, open_low=True)
_poll = bounded(0, MAX_INTERVAL, open_low=True)
_interval = bounded(0, MAX_INTERVAL)
_count = bounded(1, MAX_COUNT)
_keep = bounded(0, MAX_KEEP)
_positive = bounded(0, MAX_NUMBER, open_low=True)
_not_negative = bounded(0, MAX_NUMBER)


def _repository_url(url: str) -> str | None:
    """Why ``url`` is not a remote repository URL, or None. The endpoint, region and
    credentials come from the AWS environment only, never from this file."""
    bucket, _, _prefix = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket or "?" in url or "#" in url or "@" in bucket:
        return "expected s3://BUCKET/PREFIX (endpoint and credentials from the AWS environment)"
    return None


def _check_repository(t: Table, path: Path, root: Path) -> None:
    """The repository may not be the site root or a folder above it (``..``, ``/``): it would
    be made mode 0700 and filled with packs, and hold the site it checkpoints."""
    real, site = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    if real == site or real in site.parents:
        where = "the site root itself" if real == site else f"a parent of the site root {site}"
        raise t.fail("path", f"the repository cannot be {where}, got {str(path)!r}")


def _http_status(value: int) -> str | None:
    return None if 100 <= value <= 599 else "must be an HTTP status code (100-599)"
