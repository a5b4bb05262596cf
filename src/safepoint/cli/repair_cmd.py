"""``safepoint repair`` and ``safepoint repair index``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, print_integrity, site, site_options
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
    lines = [f"checked {result.checked} checkpoints; healed {len(result.healed)} blob(s)"]
    lines += [
        f"REPLACED pack {name}: damaged or missing on the remote (its good blobs are in new "
        "packs)"
        for name in result.replaced
    ]
    lines += [f"HEALED blob {blob[:12]} from {source}" for blob, source in result.healed.items()]
    lines += [f"WHOLE {cid[:12]}: its damage mark is removed" for cid in result.cleared]
    lines += [f"DAMAGED {cid[:12]}: {why}" for cid, why in result.damaged.items()]
    doc = {
        "ok": result.ok,
        "checkpoints": result.checked,
        "healed": result.healed,
        "damaged": result.damaged,
        "cleared": result.cleared,
        "replaced_packs": result.replaced,
        "salvaged_blobs": result.salvaged,
    }
    failure = (
        f"{len(result.damaged)} checkpoint(s) lost data that could not be healed; they are "
        "marked damaged and cannot be restored"
    )
    return print_integrity(out, doc, lines, None if result.ok else failure)


@repair.command("index")
@site_options
@click.pass_context
def index(ctx: click.Context, root: str | None, json_mode: bool) -> int:
    """Rebuild the index from the packs alone (when a command says it is damaged)."""
    out = output(ctx, json_mode)
    with site(root) as s:
        result = repair_index(s)
    lines = [f"rebuilt the index from {result.packs} packs: {result.blobs} blobs"]
    lines += [f"DAMAGED pack {problem}" for problem in result.problems]
    lines += [f"MISSING manifest of checkpoint {cid[:12]}" for cid in result.unreadable]
    doc = {
        "ok": result.ok,
        "packs": result.packs,
        "blobs": result.blobs,
        "problems": result.problems,
        "unreadable_checkpoints": result.unreadable,
    }
    failure = (
        f"the index was rebuilt, but {len(result.problems)} pack(s) are damaged and "
        f"{len(result.unreadable)} checkpoint(s) lost their manifest; run 'safepoint verify' "
        "to see what is affected"
    )
    return print_integrity(out, doc, lines, None if result.ok else failure)
