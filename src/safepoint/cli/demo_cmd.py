"""``safepoint demo``: the whole loop on a throwaway site (ops/demo.py)."""

from __future__ import annotations

from pathlib import Path

import click

from safepoint.cli.common import output
from safepoint.cli.output import human_duration
from safepoint.ops.demo import run_demo


@click.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False))
@click.pass_context
def demo(ctx: click.Context, folder: str | None) -> int:
    """Build a small site served on 127.0.0.1, checkpoint it, break it, roll it back and prove
    it healthy, printing each step with its time; then stop its server and remove it (a FOLDER
    given is kept)."""
    out = output(ctx, False)

    def say(line: str) -> None:
        out.line(line)
        out.env.stdout.flush()

    result = run_demo(Path(folder) if folder else None, say=say)
    where = f"kept in {result.root}" if result.kept else "removed"
    out.line(f"demo done in {human_duration(result.seconds)}; server stopped, site {where}")
    return 0
