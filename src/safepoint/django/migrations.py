"""Migrations as names: what a checkpoint's files hold and how two sets compare.

A checkpoint's migrations are read from its paths alone: ``APP/migrations/NAME.py`` (any
depth), where ``APP/migrations/__init__.py`` is there too and NAME does not start with ``_`` or
``~`` (what Django's ``MigrationLoader`` imports). An app is keyed by its migrations folder
(``shop/migrations``); its label is what the site's Django calls it (``probe.State.dirs``),
else the folder's parent name (Django's default label).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Names = dict[str, list[str]]
"""app label -> migration names, sorted."""


def on_disk(paths: Iterable[str], labels: Mapping[str, str] | None = None) -> Names:
    """The migrations in ``paths`` (relative to the root), by app label. ``labels`` maps a
    migrations folder (``shop/migrations``) to its app label where Django said so."""
    files: dict[str, list[str]] = {}
    packages: set[str] = set()
    for path in paths:
        folder, _, name = path.rpartition("/")
        if not folder or not (folder == "migrations" or folder.endswith("/migrations")):
            continue
        if not name.endswith(".py"):
            continue
        if name == "__init__.py":
            packages.add(folder)
        elif name[0] not in "_~":
            files.setdefault(folder, []).append(name[:-3])
    out: Names = {}
    for folder in sorted(packages & files.keys()):
        label = (labels or {}).get(folder) or folder.rpartition("/")[0].rpartition("/")[2]
        out.setdefault(label, []).extend(files[folder])
    return {label: sorted(names) for label, names in out.items()}


def missing(have: Mapping[str, list[str]], known: Mapping[str, list[str]]) -> list[str]:
    """``app.name`` of every migration in ``have`` that ``known`` does not hold, sorted."""
    return sorted(
        f"{app}.{name}"
        for app, names in have.items()
        for name in names
        if name not in set(known.get(app, ()))
    )


def by_app(qualified: Iterable[str]) -> Names:
    """``["shop.0002_x", ...]`` -> ``{"shop": ["0002_x"]}``."""
    out: Names = {}
    for q in qualified:
        app, _, name = q.partition(".")
        out.setdefault(app, []).append(name)
    return out
