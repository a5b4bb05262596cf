"""``safepoint.toml``: finding the site root, reading and validating the configuration.

The file is small and hand-edited, so every problem is reported with the file, the key and the
reason, and unknown keys are rejected rather than silently ignored (a typo in ``[health]`` must not
turn the health checks off).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from safepoint.errors import ConfigError

CONFIG_NAME = "safepoint.toml"
IGNORE_NAME = ".safepointignore"
DEFAULT_REPOSITORY = ".safepoint"


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
class Config:
    root: Path
    source: Path | None
    repository: Path
    exclude: tuple[str, ...] = ()
    repository_named: bool = False  # [repository] path is in the file (not the default)
    after_restore: tuple[str, ...] = ()
    health: HealthConfig = field(default_factory=HealthConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    app: AppConfig | None = None
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
    t = _Table(data, source, "")
    t.only("repository", "files", "hooks", "health", "guard", "app", "retention")

    repo = t.table("repository")
    repo.only("path")
    repo_path = Path(repo.get("path", str, DEFAULT_REPOSITORY)).expanduser()
    _check_repository(repo, root / repo_path, root)

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




def _app_config(t: _Table, root: Path) -> AppConfig | None:
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


# -- [retention]: the policy of ``prune`` (ops/retention.py) ------------------------------------
DEFAULT_SAFETY_WITHIN = "7d"
MAX_KEEP = 1_000_000  # more than any history holds
_DURATION = re.compile(r"(\d+)([ymdh])")


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


def _retention_config(t: _Table) -> RetentionConfig:
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


@dataclass(frozen=True)
class Duration:
    """``2y5m7d3h``: calendar years, months and days, then hours (restic's ``--keep-within``)."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0
    text: str = ""

    def before(self, t: datetime) -> datetime:
        """``t`` minus this duration (months and years by the calendar, clamped to the month's
        last day: 31 March minus 1m is 28 or 29 February)."""
        month0 = t.month - 1 - self.months
        year = t.year - self.years + month0 // 12
        month = month0 % 12 + 1
        try:
            day = min(t.day, _month_days(year, month))
            return t.replace(year=year, month=month, day=day) - timedelta(
                days=self.days, hours=self.hours
            )
        except (ValueError, OverflowError):  # before year 1: everything is within
            return datetime.min.replace(tzinfo=t.tzinfo)


def _month_days(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def parse_duration(text: str) -> Duration:
    """``2y5m7d3h`` (any of the parts, in this order, each at most once); ConfigError (a
    UsageError: exit 2) else."""
    parts = _DURATION.findall(text)
    units = [u for _, u in parts]
    if (
        not text
        or "".join(n + u for n, u in parts) != text
        or units != sorted(set(units), key="ymdh".index)
    ):
        raise ConfigError(
            f"unknown duration {text!r}: use years, months, days and hours as in 2y5m7d3h "
            "(e.g. 7d, 12h, 1y6m)"
        )
    got = {u: int(n) for n, u in parts}
    limits = {"y": 1000, "m": 12_000, "d": 365_000, "h": 8_760_000}
    if any(int(n) > limits[u] for n, u in parts):
        raise ConfigError(f"duration {text!r}: at most 1000 years in each part")
    return Duration(got.get("y", 0), got.get("m", 0), got.get("d", 0), got.get("h", 0), text)


# Upper bounds of the numbers (TOML allows inf, nan and 1e300, which overflow timers and
# sleeps: a rollback would switch files and then crash before its verdict). Checked when the
# file is loaded, before any command changes anything.
MAX_TIMEOUT = 3600.0  # seconds: one health attempt, one hook
MAX_INTERVAL = 86400.0  # seconds: between attempts, polls, rollbacks
MAX_COUNT = 1000  # retries, failures
MAX_NUMBER = 1e6  # any other number (see _positive)

Check = Callable[[Any], "str | None"]


def _bounded(low: float, high: float, *, open_low: bool = False) -> Check:
    """A check that a number is finite and in [low, high] ((low, high] with ``open_low``)."""

    def check(value: float) -> str | None:
        if not math.isfinite(value):
            return "must be a finite number"
        if value < low or (open_low and value == low):
            return f"must be {'greater than' if open_low else 'at least'} {low:g}"
        if value > high:
            return f"must be at most {high:g}"
        return None

    return check


_timeout = _bounded(0, MAX_TIMEOUT, open_low=True)
_poll = _bounded(0, MAX_INTERVAL, open_low=True)
_interval = _bounded(0, MAX_INTERVAL)
_count = _bounded(1, MAX_COUNT)
_keep = _bounded(0, MAX_KEEP)
_positive = _bounded(0, MAX_NUMBER, open_low=True)
_not_negative = _bounded(0, MAX_NUMBER)


def _check_repository(t: _Table, path: Path, root: Path) -> None:
    """The repository may not be the site root or a folder above it (``..``, ``/``): it would
    be made mode 0700 and filled with packs, and hold the site it checkpoints."""
    real, site = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    if real == site or real in site.parents:
        where = "the site root itself" if real == site else f"a parent of the site root {site}"
        raise t.fail("path", f"the repository cannot be {where}, got {str(path)!r}")


def _http_status(value: int) -> str | None:
    return None if 100 <= value <= 599 else "must be an HTTP status code (100-599)"


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number"}


class _Table:
    """A view of one TOML table that reports errors as ``file: [table] key: reason``."""

    def __init__(self, data: Mapping[str, Any], source: Path, name: str) -> None:
        self.data, self.source, self.name = data, source, name

    def fail(self, key: str, reason: str) -> ConfigError:
        where = f"[{self.name}] " if self.name else ""
        return ConfigError(f"{self.source}: {where}{key}: {reason}")

    def only(self, *keys: str) -> None:
        for key in self.data:
            if key not in keys:
                raise self.fail(key, f"unknown key (expected one of: {', '.join(keys)})")

    def table(self, key: str) -> _Table:
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table")
        return _Table(value, self.source, f"{self.name}.{key}" if self.name else key)

    def tables(self, key: str, keys: tuple[str, ...]) -> list[_Table]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"expected an array of tables ([[{self.name}.{key}]])")
        out = []
        for i, item in enumerate(value):
            sub = _Table(item, self.source, f"{self.name}.{key}][{i}")
            sub.only(*keys)
            out.append(sub)
        return out

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected a list of strings")
        return tuple(value)

    def get(
        self,
        key: str,
        kind: type,
        default: Any = None,
        *,
        required: bool = False,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        if key not in self.data:
            if required:
                raise self.fail(key, "missing (required)")
            return default
        value = self.data[key]
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise self.fail(key, f"expected {_TYPE_NAMES[kind]}, got {value!r}")
        if kind is str and not value.strip():
            raise self.fail(key, "must not be empty")
        problem = check(value) if check else None
        if problem:
            raise self.fail(key, f"{problem}, got {value!r}")
        return value
