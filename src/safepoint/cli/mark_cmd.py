"""``safepoint mark REF good|bad|clear``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, site, site_options
from safepoint.ops.marks import CLEAR, describe, describe_mark, set_mark


@click.command()
@click.argument("ref")
@click.argument("verdict", metavar="good|bad|clear")  # set_mark checks it: one clear line
@click.option("--reason", help="Why (kept with the mark, shown by list and show).")
@site_options
@click.pass_context
def mark(
    ctx: click.Context,
    ref: str,
    verdict: str,
    reason: str | None,
    root: str | None,
    json_mode: bool,
) -> None:
    """Mark checkpoint REF known-good or bad by hand, or clear its mark.

    A bare 'rollback' and 'guard' go to the newest checkpoint marked good, never to one
    marked bad."""
    out = output(ctx, json_mode)
    with site(root) as s:
        cp = set_mark(s, ref, verdict, reason=reason)
    if json_mode:
        out.json({**cp.to_json(), "short_id": cp.short_id})
    elif verdict == CLEAR:
        out.line(f"{describe(cp)}: health mark cleared (unknown)")
    else:
        out.line(f"{describe(cp)} marked {describe_mark(cp.marks)}")
