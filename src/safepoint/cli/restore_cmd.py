"""``safepoint restore REF --to DIR``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import human_duration
from safepoint.ops.restore_to import restore_checkpoint


@click.command()
@click.argument("ref")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(),
    help="An empty or new directory to write the checkpoint into.",
)
@click.option(
    "--with-db",
    is_flag=True,
    help="Restore REF's database snapshot too: a SQLite file in DIR, or a new PostgreSQL "
    "database beside the live one.",
)
@site_options
@click.pass_context
def restore(
    ctx: click.Context, ref: str, target: str, with_db: bool, root: str | None, json_mode: bool
) -> None:
    """Write a checkpoint into another (empty) directory."""
    out = output(ctx, json_mode)
    with site(root) as s:
        result = restore_checkpoint(
            s, ref, target, progress=out.progress(), with_db=with_db
        )
    if json_mode:
        out.json(result.summary())
    else:
        cp = result.checkpoint
        out.line(
            f"restored {cp.short_id} ({cp.files} files) to {result.target} "
            f"in {human_duration(result.seconds)}"
        )
        if result.database is not None:
            out.line(f"database snapshot restored to {result.database}")
