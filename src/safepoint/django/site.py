"""Finding a Django site, its interpreter and its settings module.

A site is a Django site when ``manage.py`` is in its root. Its interpreter is, in this order,
``[django] python``, the ``bin/python`` of a virtual environment directly inside the root (the
folder holding ``pyvenv.cfg`` that the exclude rules already leave out), or the interpreter
running safepoint. Its settings module is ``[django] settings``, else the one ``manage.py``
sets (``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "...")``), else the environment's.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from safepoint.config import Config
from safepoint.errors import ConfigError

MANAGE = "manage.py"
_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([\w.]+)['"]""")


@dataclass(frozen=True)
class DjangoSite:
    root: Path
    python: str
    """The interpreter that runs the site (absolute path, or a command name)."""
    settings: str | None
    """DJANGO_SETTINGS_MODULE, or None to leave the environment's."""
    timeout: float = 600.0
    """Seconds one ``manage.py migrate`` may take."""

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.settings:
            env["DJANGO_SETTINGS_MODULE"] = self.settings
        env.setdefault("PYTHONIOENCODING", "utf-8")
        return env


def is_django(root: Path) -> bool:
    """Whether ``root`` is a Django site: a stat, no subprocess."""
    return (root / MANAGE).is_file()


def has_own_migrations(root: Path, *, depth: int = 4) -> bool:
    """Whether an app under ``root`` (not in a virtual environment) has a migrations package:
    without one, no migration of the site changes with its files, and Django is not asked."""
    return any(_migration_folders(root, depth))


def own_migration_folders(root: Path, *, depth: int = 4) -> set[str]:
    """The migrations packages of the apps under ``root`` (not in a virtual environment), as
    paths relative to it, found without Django."""
    found = _migration_folders(root, depth)
    return {os.path.relpath(path, root).replace(os.sep, "/") for path in found}


def _migration_folders(folder: Path, left: int) -> Iterator[Path]:
    try:
        children = [e for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for child in children:
        if child.name.startswith(".") or child.name in ("node_modules", "__pycache__"):
            continue
        path = Path(child.path)
        if (path / "pyvenv.cfg").exists():
            continue
        if child.name == "migrations" and (path / "__init__.py").is_file():
            yield path
        elif left > 1:
            yield from _migration_folders(path, left - 1)


def django_site(config: Config) -> DjangoSite | None:
    """The Django site at ``config.root``, or None when there is no ``manage.py``."""
    root = config.root
    if not is_django(root):
        return None
    dj = config.django
    return DjangoSite(
        root=root,
        python=_python(root, dj.python if dj else None),
        settings=(dj.settings if dj and dj.settings else _settings_of(root / MANAGE)),
        timeout=dj.timeout if dj else 600.0,
    )


def _python(root: Path, configured: str | None) -> str:
    if configured:
        path = Path(configured).expanduser()
        path = path if path.is_absolute() else root / path
        if not os.access(path, os.X_OK):
            raise ConfigError(f"[django] python: {path} is not an executable interpreter")
        return str(path)
    for cfg in sorted(root.glob("*/pyvenv.cfg")):
        python = cfg.parent / "bin" / "python"
        if os.access(python, os.X_OK):
            return str(python)
    return sys.executable


def _settings_of(manage: Path) -> str | None:
    try:
        found = _SETTINGS.search(manage.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return found.group(1) if found else None
