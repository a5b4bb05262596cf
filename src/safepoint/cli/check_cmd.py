"""``safepoint check``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, print_integrity, site, site_options
from safepoint.cli.output import human_size
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
    lines = [f"checked {r.checkpoints} checkpoints, {r.packs} packs, {r.blobs} blobs"]
    if r.read_blobs:
        lines.append(f"read {r.read_blobs} blobs, {human_size(r.read_bytes)}")
    lines += [f"warning: {warning}" for warning in r.warnings]
    lines += [f"PROBLEM {problem}" for problem in r.problems]
    doc = {
        "ok": r.ok,
        "checkpoints": r.checkpoints,
        "packs": r.packs,
        "blobs": r.blobs,
        "read_blobs": r.read_blobs,
        "read_bytes": r.read_bytes,
        "problems": r.problems,
        "warnings": r.warnings,
    }
    failure = (
        f"{len(r.problems)} problem(s) found; 'safepoint repair' heals what the site still "
        "holds and marks the rest damaged"
    )
    return print_integrity(out, doc, lines, None if r.ok else failure)


def _percent(text: str) -> float:
    try:
        return float(text.strip().removesuffix("%"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a percentage such as 10%") from None
