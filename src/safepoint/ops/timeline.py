"""``safepoint timeline``: the site's history as one self-contained HTML page.

What it shows comes from the repository only: the checkpoint records and their marks, the
rollback records (store/rollbacks.py), and for each checkpoint the files that changed against
the one before it in time (its manifest compared with the previous one's, as ``diff`` does).
The page (ops/timeline_page.py) is written where an export would be written, never where the
next checkpoint would take it in (archive/outputs.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from safepoint.archive.outputs import default_folder, refuse_inside_root
from safepoint.errors import OperationalError, UsageError
from safepoint.model.entry import Entry
from safepoint.ops.site import Site
from safepoint.restore.plan import Changes, compare
from safepoint.store.atomic import write_atomic
from safepoint.store.records import Checkpoint
from safepoint.store.rollbacks import RollbackRecord, read_rollback_records


@dataclass
class Point:
    """One checkpoint and what changed since the checkpoint made before it."""

    checkpoint: Checkpoint
    changes: Changes | None = None  # None for the first one, or when a manifest is unreadable
    problem: str | None = None  # why the changes are not known


@dataclass
class History:
    root: Path
    points: list[Point] = field(default_factory=list)  # oldest first
    rollbacks: list[RollbackRecord] = field(default_factory=list)  # oldest first


def read_history(site: Site) -> History:
    """Every checkpoint, oldest first, with its changes; and every rollback record."""
    repo = site.repository
    history = History(site.root)
    previous: list[Entry] | None = None
    for cp in sorted(repo.checkpoints(), key=lambda c: c.created):
        point = Point(cp)
        try:
            entries: list[Entry] | None = repo.load_manifest(cp)
        except Exception as exc:  # a damaged checkpoint still has its place on the page
            entries, point.problem = None, f"cannot read its manifest: {exc}"
        if entries is not None and previous is not None:
            point.changes = compare(previous, entries, owner=False)
        previous = entries if entries is not None else previous
        history.points.append(point)
    history.rollbacks = read_rollback_records(repo.path)
    return history


def timeline_path(site: Site, html: str | os.PathLike[str] | None) -> Path:
    """Where the page goes: ``html``, else ``<site>-timeline.html`` in the working directory
    when it is outside the site, else beside the site root. Inside the root only where the
    rules do not track it (UsageError otherwise)."""
    if html is not None:
        path = Path(html).absolute()
        if path.is_dir():
            path = path / f"{site.root.name}-timeline.html"
    else:
        path = default_folder(site.root) / f"{site.root.name}-timeline.html"
    try:
        refuse_inside_root(site.root, site.rules, [path])
    except UsageError:
        raise UsageError(
            f"{path} is inside the site root, where the next checkpoint would take it in; "
            "write it outside the site (--html FILE) or in a folder the site excludes"
        ) from None
    return path


def write_timeline(site: Site, html: str | os.PathLike[str] | None = None) -> tuple[Path, History]:
    """Write the page (atomically) and return where, with what it shows."""
    from safepoint.ops.timeline_page import render_page

    path = timeline_path(site, html)
    history = read_history(site)
    try:
        write_atomic(path, render_page(history).encode("utf-8"), mode=0o600)
    except OSError as exc:
        raise OperationalError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path, history
