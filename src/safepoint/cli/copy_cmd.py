"""``safepoint copy REF... --to DEST | --from SRC``."""

from __future__ import annotations

from typing import Any

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import Output, human_size, printable
from safepoint.ops.copy import CopyResult, MirrorResult
from safepoint.ops.copy import copy as copy_op


@click.command()
@click.argument("refs", nargs=-1, metavar="REF...")
@click.option("--to", "to", metavar="DEST", help="Copy from this site's repository to DEST.")
@click.option("--from", "from_", metavar="SRC", help="Copy from SRC into this site's repository.")
@site_options
@click.pass_context
def copy(
    ctx: click.Context,
    refs: tuple[str, ...],
    to: str | None,
    from_: str | None,
    root: str | None,
    json_mode: bool,
) -> None:
    """Copy checkpoints REF... to another repository (--to DEST) or from one (--from SRC).

    Only the data the other side lacks is written; a checkpoint already there is left as it
    is. DEST is made a repository when it does not exist yet."""
    out = output(ctx, json_mode)
    with site(root) as s:
        result = copy_op(s, refs, to=to, from_=from_, progress=out.progress())
    if json_mode:
        out.json(copy_json(result))
        return
    for c in result.checkpoints:
        what = "copied" if c.copied else "already there"
        out.line(f"checkpoint {printable(c.checkpoint.display_name)}: {what}")
    out.line(summary(result))


def copy_json(result: CopyResult) -> dict[str, Any]:
    return {
        "checkpoints": [
            {"id": c.checkpoint.id, "label": c.checkpoint.label, "copied": c.copied}
            for c in result.checkpoints
        ],
        "blobs": result.blobs,
        "bytes": result.bytes,
    }


def summary(result: CopyResult) -> str:
    return (
        f"{len(result.copied)} checkpoint(s) copied, {result.blobs} blob(s) "
        f"({human_size(result.bytes)}) written"
    )


def report_mirror(out: Output, mirrored: MirrorResult | None) -> dict[str, Any] | None:
    """After a create: what went to ``[repository] mirror`` (a line), or why nothing could (a
    warning on stderr: the create still succeeds); the JSON for ``--json``."""
    if mirrored is None:
        return None
    if mirrored.result is None:
        out.env.stderr.write(
            f"safepoint: warning: mirror not updated ({printable(mirrored.error or '')}); "
            "the next create copies what it lacks\n"
        )
        return {"error": mirrored.error}
    if not out.json_mode and mirrored.result.copied:
        out.line(f"mirror: {summary(mirrored.result)}")
    return copy_json(mirrored.result)
