"""``safepoint.toml``: finding the site root, reading and validating the configuration.

The file is small and hand-edited, so every problem is reported with the file, the key and the
reason, and unknown keys are rejected rather than silently ignored (a typo in ``[health]`` must not
turn the health checks off).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    t.only("repository", "files", "hooks", "health", "guard")

    repo = t.table("repository")
    repo.only("path")
    repo_path = Path(repo.get("path", str, DEFAULT_REPOSITORY)).expanduser()

    files = t.table("files")
    files.only("exclude")
    hooks = t.table("hooks")
    hooks.only("after_restore")

    health = t.table("health")
    health.only("timeout", "retries", "interval", "http", "command")
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
            timeout=health.get("timeout", float, 5.0, check=_positive),
            retries=health.get("retries", int, 10, check=_positive),
            interval=health.get("interval", float, 1.0, check=_not_negative),
            http=http,
            command=command,
        ),
        guard=GuardConfig(
            interval=guard.get("interval", float, 30.0, check=_positive),
            failures=guard.get("failures", int, 3, check=_positive),
            cooldown=guard.get("cooldown", float, 600.0, check=_not_negative),
        ),
    )


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _not_negative(value: float) -> str | None:
    return None if value >= 0 else "must not be negative"


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
