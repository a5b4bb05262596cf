"""``safepoint list`` and ``safepoint show``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import human_size
from safepoint.ops.refs import resolve
from safepoint.scan.entry import DIR, FILE
from safepoint.store.records import Checkpoint


def _created(cp: Checkpoint, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return cp.created_at.astimezone().strftime(fmt)


def _row(cp: Checkpoint) -> list[str]:
    return [
        cp.short_id,
        cp.label or "",
        cp.kind,
        _created(cp, "%Y-%m-%d %H:%M"),  # the table fits 80 columns; show has the seconds
        str(cp.files),
        human_size(cp.bytes),
        cp.marks.health or "",
        "yes" if cp.marks.pinned else "",
    ]


@click.command("list")
@site_options
@click.pass_context
def list_(ctx: click.Context, root: str | None, json_mode: bool) -> None:
    """Checkpoints, newest first."""
    out = output(ctx, json_mode)
    with site(root) as s:
        checkpoints = s.repository.checkpoints()
    if json_mode:
        out.json([{**cp.to_json(), "short_id": cp.short_id} for cp in checkpoints])
        return
    if not checkpoints:
        out.line("no checkpoints yet")
        return
    out.table(
        ["id", "label", "kind", "created", "files", "size", "health", "pinned"],
        [_row(cp) for cp in checkpoints],
    )


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
        cp = resolve(ref, s.repository.checkpoints())
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
        ("health", cp.marks.health or "unknown"),
        ("pinned", "yes" if cp.marks.pinned else "no"),
    ]:
        out.line(f"{key:>13}: {value}")
    if cp.note:
        out.line("         note:")
        for line in cp.note.splitlines():
            out.line(f"    {line}")
