"""``safepoint restore REF --to DIR``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import human_duration
from safepoint.ops.refs import resolve
from safepoint.restore.materialize import restore_to
from safepoint.store.damage import refuse_if_damaged


@click.command()
@click.argument("ref")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(),
    help="An empty or new directory to write the checkpoint into.",
)
@site_options
@click.pass_context
def restore(ctx: click.Context, ref: str, target: str, root: str | None, json_mode: bool) -> None:
    """Write a checkpoint into another (empty) directory."""
    out = output(ctx, json_mode)
    started = time.monotonic()
    with site(root) as s:
        cp = resolve(ref, s.repository.checkpoints())
        refuse_if_damaged(s.repository, cp)
        dest = Path(target).absolute()
        restore_to(s.repository, s.repository.load_manifest(cp), dest, progress=out.progress())
    elapsed = time.monotonic() - started
    if json_mode:
        out.json(
            {
                "checkpoint": cp.id,
                "target": str(dest),
                "files": cp.files,
                "bytes": cp.bytes,
                "seconds": round(elapsed, 3),
            }
        )
    else:
        out.line(
            f"restored {cp.short_id} ({cp.files} files) to {dest} in {human_duration(elapsed)}"
        )
