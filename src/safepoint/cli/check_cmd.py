"""``safepoint check``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import human_size
from safepoint.errors import ExitStatus
from safepoint.ops.check import check as run_check


@click.command()
@click.option("--read-data", is_flag=True, help="Also read and re-hash every stored blob.")
@click.option(
    "--read-data-subset",
    "subset",
    metavar="N%",
    help="Also read and re-hash the blobs of a random N percent of the packs.",
)
@site_options
@click.pass_context
def check(
    ctx: click.Context, read_data: bool, subset: str | None, root: str | None, json_mode: bool
) -> int:
    """Check the repository's structure (records, index, packs), and optionally its data."""
    out = output(ctx, json_mode)
    share = _percent(subset) if subset is not None else None
    with site(root) as s:
        r = run_check(s, read_data=read_data, subset=share, progress=out.progress())
    if json_mode:
        out.json(
            {
                "ok": r.ok,
                "checkpoints": r.checkpoints,
                "packs": r.packs,
                "blobs": r.blobs,
                "read_blobs": r.read_blobs,
                "read_bytes": r.read_bytes,
                "problems": r.problems,
                "warnings": r.warnings,
            }
        )
    else:
        out.line(f"checked {r.checkpoints} checkpoints, {r.packs} packs, {r.blobs} blobs")
        if r.read_blobs:
            out.line(f"read {r.read_blobs} blobs, {human_size(r.read_bytes)}")
        for warning in r.warnings:
            out.line(f"warning: {warning}")
        for problem in r.problems:
            out.line(f"PROBLEM {problem}")
    if not r.ok:
        out.env.stderr.write(
            f"safepoint: {len(r.problems)} problem(s) found; 'safepoint repair' heals what "
            "the site still holds and marks the rest damaged\n"
        )
        return int(ExitStatus.INTEGRITY)
    return int(ExitStatus.OK)


def _percent(text: str) -> float:
    try:
        return float(text.strip().removesuffix("%"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a percentage such as 10%") from None
