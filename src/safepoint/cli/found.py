"""How the CLI names what a checkpoint leaves out (``ops/spare.py``): one line, folded when
long, the databases and runtime files first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from safepoint.scan.runtime import EXCLUDED, RUNTIME, VENV

SHOWN = 8  # names on the line before "and N more"


def fold(found: Sequence[tuple[str, str]], *, limit: int = SHOWN) -> str:
    """``bakerydemodb (SQLite database), gunicorn.pid (pid file), venv (virtual environment),
    media, __pycache__ (x12), and 3 more``: a name left out in many places is named once."""
    names = Counter(_name(path) for path, _ in found)
    items: list[tuple[int, str]] = []
    grouped: set[str] = set()
    for path, what in found:
        name = _name(path)  # a directory's ends with "/"
        rank = 0 if what in RUNTIME else 1 if what == VENV else 2
        if names[name] > 2 and what not in RUNTIME:
            if name not in grouped:
                grouped.add(name)
                items.append((rank, f"{name} (x{names[name]})"))
            continue
        items.append((rank, path if what == EXCLUDED else f"{path} ({what})"))
    items.sort(key=lambda item: item[0])  # stable: tree order within a rank
    text = ", ".join(text for _, text in items[:limit])
    more = len(items) - limit
    return f"{text}, and {more} more" if more > 0 else text


def _name(path: str) -> str:
    return path.rstrip("/").rpartition("/")[2] + ("/" if path.endswith("/") else "")
