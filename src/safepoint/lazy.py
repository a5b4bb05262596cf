"""Package attributes imported on first use (PEP 562), so that importing a package for one
name does not import every module the package offers."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: dict[str, str]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``exports`` (name -> module) and caching in
    ``namespace`` (the package's globals)."""

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = namespace[name] = getattr(importlib.import_module(module), name)
        return value

    return getattr_
