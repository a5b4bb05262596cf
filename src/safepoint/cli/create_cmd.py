"""``safepoint create``."""

from __future__ import annotations

from pathlib import Path

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.found import fold
from safepoint.cli.output import human_size
from safepoint.errors import ExitStatus, UsageError
from safepoint.ops.create import create_checkpoint
from safepoint.ops.refs import RESERVED


def _read_note(note: str | None, note_file: str | None) -> str | None:
    if note is not None and note_file is not None:
        raise UsageError("give --note or --note-file, not both")
    if note_file is None:
        return note
    try:
        return Path(note_file).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read note file {note_file}: {exc.strerror}") from None


@click.command()
@click.option("--label", "-l", help="A name to refer to the checkpoint by.")
@click.option("--note", help="A note kept with the checkpoint.")
@click.option(
    "--note-file",
    type=click.Path(dir_okay=False),
    help="Keep this file's content (e.g. CHECKPOINT.md) as the note.",
)
@click.option("--pin", is_flag=True, help="Keep this checkpoint whatever prune says.")
@click.option(
    "--verify-health",
    is_flag=True,
    help="Run the health checks; mark the checkpoint known-good only if they pass.",
)
@site_options
@click.pass_context
def create(
    ctx: click.Context,
    label: str | None,
    note: str | None,
    note_file: str | None,
    pin: bool,
    verify_health: bool,
    root: str | None,
    json_mode: bool,
) -> int:
    """Make a checkpoint of the site."""
    out = output(ctx, json_mode)
    text = _read_note(note, note_file)
    if label is not None and not label.strip():
        raise UsageError("the label must not be empty")
    if label in RESERVED:
        raise UsageError(f"{label!r} is a reserved reference; choose another label")
    with site(root) as s:
        result = create_checkpoint(
            s, label=label, note=text, pin=pin, verify_health=verify_health, progress=out.progress()
        )
    for path, reason in result.skipped:
        out.warn(f"skipped {path}: {reason}")
    cp = result.checkpoint
    healthy = result.health is None or result.health.ok
    if json_mode:
        out.json(
            {
                **cp.to_json(),
                "short_id": cp.short_id,
                "hashed": result.hashed,
                "skipped": [p for p, _ in result.skipped],
                "not_in_checkpoints": [{"path": p, "what": w} for p, w in result.found],
                "health_report": result.health.to_json() if result.health else None,
            }
        )
    else:
        out.line(
            f"checkpoint {cp.short_id}{f' ({cp.label})' if cp.label else ''}: "
            f"{cp.files} files, {human_size(cp.bytes)}, "
            f"{human_size(cp.new_bytes)} newly stored"
        )
        if result.found:
            out.line(f"not in checkpoints: {fold(result.found)}")
        if result.health is not None:
            from safepoint.cli.health_cmd import print_report

            print_report(out, result.health, indent="  ")
            out.line("marked known-good" if healthy else "marked bad (kept; not known-good)")
    if result.health is not None and not healthy:
        out.env.stderr.write(
            f"safepoint: checkpoint {cp.short_id} kept but marked bad: {result.health.summary()}\n"
        )
        return int(ExitStatus.UNHEALTHY)
    return int(ExitStatus.OK)
