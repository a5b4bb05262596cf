"""Every module of the package imports. mypy runs with --ignore-missing-imports (for the
optional extras' libraries), so an import of a module that was moved or removed would
otherwise pass the linters and fail only when its command runs."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import safepoint

OPTIONAL = ("safepoint.store.backend.s3",)  # needs the s3 extra's boto3, imported lazily


def _modules() -> list[str]:
    found = pkgutil.walk_packages(safepoint.__path__, prefix="safepoint.")
    return sorted(m.name for m in found if not m.name.endswith("._listing"))


@pytest.mark.parametrize("name", _modules())
def test_module_imports(name: str) -> None:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        if name in OPTIONAL and exc.name in ("boto3", "botocore"):
            pytest.skip(f"{name} needs the s3 extra")
        raise
