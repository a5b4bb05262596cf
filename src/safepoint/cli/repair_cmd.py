"""``safepoint repair index``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, site, site_options
from safepoint.errors import ExitStatus, UsageError
from safepoint.ops.repair import repair_index


@click.group(invoke_without_command=True)
@click.pass_context
def repair(ctx: click.Context) -> None:
    """Rebuild what can be rebuilt (the index, from the packs)."""
    if ctx.invoked_subcommand is None:
        raise UsageError("say what to repair: 'safepoint repair index' rebuilds the index")


@repair.command("index")
@site_options
@click.pass_context
def index(ctx: click.Context, root: str | None, json_mode: bool) -> int:
    """Rebuild the index from the packs alone (when a command says it is damaged)."""
    out = output(ctx, json_mode)
    with site(root) as s:
        result = repair_index(s)
    if json_mode:
        out.json(
            {
                "ok": result.ok,
                "packs": result.packs,
                "blobs": result.blobs,
                "problems": result.problems,
                "unreadable_checkpoints": result.unreadable,
            }
        )
    else:
        out.line(f"rebuilt the index from {result.packs} packs: {result.blobs} blobs")
        for problem in result.problems:
            out.line(f"DAMAGED pack {problem}")
        for cid in result.unreadable:
            out.line(f"MISSING manifest of checkpoint {cid[:12]}")
    if not result.ok:
        out.env.stderr.write(
            f"safepoint: the index was rebuilt, but {len(result.problems)} pack(s) are damaged "
            f"and {len(result.unreadable)} checkpoint(s) lost their manifest; "
            "run 'safepoint verify' to see what is affected\n"
        )
        return int(ExitStatus.INTEGRITY)
    return int(ExitStatus.OK)
