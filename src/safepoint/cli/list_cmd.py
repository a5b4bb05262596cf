"""``safepoint list`` and ``safepoint show``."""

from __future__ import annotations

from datetime import datetime

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import human_size
from safepoint.cli.table import Column, Section
from safepoint.errors import UsageError
from safepoint.model.entry import DIR, FILE
from safepoint.ops.marks import HOW_SHORT, describe_mark, marked_at, other_hosts
from safepoint.ops.migrations import recorded
from safepoint.ops.refs import resolve
from safepoint.store import damage
from safepoint.store.records import SAFETY, Checkpoint, Marks


def _created(cp: Checkpoint, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return cp.created_at.astimezone().strftime(fmt)


# Dropped in ``drop`` order, lowest first, when the terminal is too narrow; only the label and
# the note are ever cut. id, created and health always show: they are what a rollback needs.
COLUMNS = (
    Column("id"),
    Column("label", cut=True),
    Column("kind", drop=5),
    Column("created"),
    Column("files", drop=4, right=True),
    Column("size", drop=3, right=True),
    Column("health"),
    Column("pinned", drop=6),
    Column("by", drop=1),
    Column("note", drop=2, cut=True),
)
SAFETY_TITLE = "-- safety checkpoints (each holds the tree a rollback replaced) --"


def _mark(marks: Marks) -> str:
    """The health mark in a few cells: what, how and when it was earned."""
    if marks.health is None:
        return ""
    at = marked_at(marks)
    when = None
    if at is not None:
        when = f"{at:%m-%d %H:%M}" if at.year == datetime.now().year else f"{at:%Y-%m-%d}"
    how = marks.health_by and HOW_SHORT.get(marks.health_by, marks.health_by)
    details = ", ".join(part for part in (how, when) if part)
    return f"{marks.health} ({details})" if details else marks.health


def _row(cp: Checkpoint) -> list[str]:
    by = "@".join(part for part in (cp.user, cp.host) if part)
    return [
        cp.short_id,
        cp.label or "",
        cp.kind,
        _created(cp, "%Y-%m-%d %H:%M"),  # show has the seconds
        str(cp.files),
        human_size(cp.bytes),
        _mark(cp.marks),
        "yes" if cp.marks.pinned else "",
        by,
        (cp.note or "").strip().split("\n", 1)[0],
    ]


PAGE = 50  # checkpoints a plain ``list`` shows: the newest, what a rollback decision needs


@click.command("list")
@click.option(
    "--forgotten", is_flag=True, help="The forgotten checkpoints (undelete brings them back)."
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help=f"Show the newest N checkpoints (default {PAGE}; --json: all).",
)
@click.option("--all", "show_all", is_flag=True, help="Show every checkpoint.")
@site_options
@click.pass_context
def list_(
    ctx: click.Context,
    forgotten: bool,
    limit: int | None,
    show_all: bool,
    root: str | None,
    json_mode: bool,
) -> None:
    """Checkpoints, newest first (the newest 50 unless --all or --limit; --json gives all);
    safety checkpoints (taken by rollbacks) after them."""
    if show_all and limit is not None:
        raise UsageError("--all and --limit exclude each other")
    if limit is None and not show_all and not json_mode:
        limit = PAGE
    out = output(ctx, json_mode)
    with site(root) as s:
        # Built lazily: a page of 50 among 10,000 decodes 50 rows of the catalogue.
        listed = s.repository.checkpoints(forgotten=True) if forgotten else s.repository.listed()
        checkpoints = listed[:limit]
        damaged = damage.all_reasons(s.repository)
    if json_mode:
        out.json_rows([{**cp.to_json(), "short_id": cp.short_id} for cp in checkpoints])
        return
    if not checkpoints:
        out.line("no forgotten checkpoints" if forgotten else "no checkpoints yet")
        return
    # Safety checkpoints apart: they usually hold the broken tree a rollback left behind.
    out.table(
        COLUMNS,
        [
            Section([_row(cp) for cp in checkpoints if cp.kind != SAFETY]),
            Section([_row(cp) for cp in checkpoints if cp.kind == SAFETY], SAFETY_TITLE),
        ],
    )
    for cp in checkpoints:  # marked by 'safepoint repair' (store/damage.py)
        if cp.id in damaged:
            out.line(f"DAMAGED {cp.display_name}, cannot be restored: {damaged[cp.id]}")
    hidden = len(listed) - len(checkpoints)
    if hidden:
        out.line(f"... and {hidden:,} older (--all shows every checkpoint, --limit N the newest N)")


def _database(cp: Checkpoint) -> str:
    """The database snapshot stored with ``cp`` (extra["database"]), in one line."""
    db = cp.extra.get("database")
    if not isinstance(db, dict):
        return "no snapshot"
    size = db.get("bytes")
    size_text = human_size(size) if isinstance(size, int) else "?"
    return f"{db.get('engine')} {db.get('name')}, {size_text} (snapshot {str(db.get('top'))[:12]})"


@click.command()
@click.argument("ref")
@click.option("--files", "show_files", is_flag=True, help="List the checkpoint's files.")
@click.option("--note", "show_note", is_flag=True, help="Print the checkpoint's note only.")
@site_options
@click.pass_context
def show(
    ctx: click.Context,
    ref: str,
    show_files: bool,
    show_note: bool,
    root: str | None,
    json_mode: bool,
) -> None:
    """One checkpoint: its details, its files, or its note."""
    out = output(ctx, json_mode)
    with site(root) as s:
        cp = resolve(ref, s.repository.listed())
        damaged = damage.reason(s.repository, cp.id)
        entries = s.repository.load_manifest(cp) if show_files else []
    if json_mode:
        doc = {**cp.to_json(), "short_id": cp.short_id}
        if show_files:
            doc["entries"] = [
                {
                    "path": e.path,
                    "type": {"f": "file", "d": "dir", "l": "symlink"}[e.kind],
                    "mode": f"{e.mode:04o}",
                    "size": e.size,
                    "sha256": e.blob,
                    "target": e.target,
                }
                for e in entries
            ]
        out.json(doc)
        return
    if show_note:
        out.raw(cp.note or "")
        return
    if show_files:
        for e in entries:
            suffix = "/" if e.kind == DIR else f" -> {e.target}" if e.target is not None else ""
            size = human_size(e.size) if e.kind == FILE else ""
            out.line(f"{e.mode:04o}  {size:>10}  {e.path}{suffix}")
        return
    for key, value in [
        ("id", cp.id),
        ("label", cp.label or ""),
        ("kind", cp.kind),
        ("created", _created(cp)),
        ("host", cp.host or ""),
        ("user", cp.user or ""),
        ("files", str(cp.files)),
        ("size", human_size(cp.bytes)),
        ("newly stored", human_size(cp.new_bytes)),
        ("health", describe_mark(cp.marks)),  # on this host
        *(("elsewhere", describe_mark(m)) for m in other_hosts(cp.marks)),
        ("pinned", "yes" if cp.marks.pinned else "no"),
        ("database", _database(cp)),
        *([("DAMAGED", f"cannot be restored: {damaged}")] if damaged else []),
    ]:
        out.line(f"{key:>13}: {value}")
    migrations = recorded(cp)
    if migrations is not None:
        out.line(f"{'migrations':>13}: {migrations}")
    if cp.note:
        out.line("         note:")
        for line in cp.note.splitlines():
            out.line(f"    {line}")
