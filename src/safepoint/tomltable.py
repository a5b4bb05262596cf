"""Reading one table of a hand-edited TOML file: every problem names the file, the table, the
key and the reason, unknown keys are refused, and numbers are checked against bounds."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from safepoint.errors import ConfigError

Check = Callable[[Any], "str | None"]


def bounded(low: float, high: float, *, open_low: bool = False) -> Check:
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


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number"}


class Table:
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

    def table(self, key: str) -> Table:
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table")
        return Table(value, self.source, f"{self.name}.{key}" if self.name else key)

    def tables(self, key: str, keys: tuple[str, ...]) -> list[Table]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"expected an array of tables ([[{self.name}.{key}]])")
        out = []
        for i, item in enumerate(value):
            sub = Table(item, self.source, f"{self.name}.{key}][{i}")
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
