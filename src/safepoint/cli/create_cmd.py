"""``safepoint create``."""

from __future__ import annotations

from pathlib import Path

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import human_size
from safepoint.errors import UsageError
from safepoint.ops.create import create_checkpoint
from safepoint.ops.refs import RESERVED


@click.command()
@click.option("--label", "-l", help="A name to refer to the checkpoint by.")
@click.option("--note", help="A note kept with the checkpoint.")
@click.option(
    "--note-file",
    type=click.Path(dir_okay=False),
    help="Keep this file's content (e.g. CHECKPOINT.md) as the note.",
)
@site_options
@click.pass_context
def create(
    ctx: click.Context,
    label: str | None,
    note: str | None,
    note_file: str | None,
    root: str | None,
    json_mode: bool,
) -> None:
    """Make a checkpoint of the site."""
    out = output(ctx, json_mode)
    if note is not None and note_file is not None:
        raise UsageError("give --note or --note-file, not both")
    if note_file is not None:
        try:
            note = Path(note_file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UsageError(f"cannot read note file {note_file}: {exc.strerror}") from None
    if label is not None and not label.strip():
        raise UsageError("the label must not be empty")
    if label in RESERVED:
        raise UsageError(f"{label!r} is a reserved reference; choose another label")
    with site(root) as s:
        result = create_checkpoint(s, label=label, note=note, progress=out.progress())
    for path, reason in result.skipped:
        out.warn(f"skipped {path}: {reason}")
    cp = result.checkpoint
    if json_mode:
        out.json(
            {
                **cp.to_json(),
                "short_id": cp.short_id,
                "hashed": result.hashed,
                "skipped": [p for p, _ in result.skipped],
            }
        )
        return
    out.line(
        f"checkpoint {cp.short_id}{f' ({cp.label})' if cp.label else ''}: {cp.files} files, "
        f"{human_size(cp.bytes)}, {human_size(cp.new_bytes)} newly stored"
    )
