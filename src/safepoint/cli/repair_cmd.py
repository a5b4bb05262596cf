"""``safepoint repair`` and ``safepoint repair index``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, site, site_options
from safepoint.errors import ExitStatus
from safepoint.ops.repair import repair as run_repair
from safepoint.ops.repair import repair_index


@click.group(invoke_without_command=True)
@site_options
@click.pass_context
def repair(ctx: click.Context, root: str | None, json_mode: bool) -> int | None:
    """Heal lost data from the site or other packs; mark what stays lost damaged.

    'safepoint repair index' rebuilds the index from the packs."""
    if ctx.invoked_subcommand is not None:
        return None
    out = output(ctx, json_mode)
    with site(root) as s:
        result = run_repair(s)
    if json_mode:
        out.json(
            {
                "ok": result.ok,
                "checkpoints": result.checked,
                "healed": result.healed,
                "damaged": result.damaged,
                "cleared": result.cleared,
            }
        )
    else:
        out.line(f"checked {result.checked} checkpoints; healed {len(result.healed)} blob(s)")
        for blob, source in result.healed.items():
            out.line(f"HEALED blob {blob[:12]} from {source}")
        for cid in result.cleared:
            out.line(f"WHOLE {cid[:12]}: its damage mark is removed")
        for cid, why in result.damaged.items():
            out.line(f"DAMAGED {cid[:12]}: {why}")
    if not result.ok:
        out.env.stderr.write(
            f"safepoint: {len(result.damaged)} checkpoint(s) lost data that could not be "
            "healed; they are marked damaged and cannot be restored\n"
        )
        return int(ExitStatus.INTEGRITY)
    return int(ExitStatus.OK)


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
