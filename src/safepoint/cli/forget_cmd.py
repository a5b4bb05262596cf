"""``safepoint forget``, ``safepoint undelete`` and ``safepoint prune``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import Output, printable
from safepoint.config import MAX_KEEP, QUOTAS, RetentionConfig
from safepoint.ops.forget import forget, undelete
from safepoint.ops.prune import PruneResult, policy_from, prune
from safepoint.store.records import Checkpoint

F = TypeVar("F", bound=Callable[..., Any])
GC_HINT = "their data stays until 'safepoint gc'; run 'safepoint gc' to free the space"


def _name(cp: Checkpoint) -> str:
    return printable(cp.display_name)


def _doc(cp: Checkpoint) -> dict[str, object]:
    return {"id": cp.id, "short_id": cp.short_id, "label": cp.label, "kind": cp.kind}


@click.command("forget")
@click.argument("refs", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="Say what would be forgotten; change nothing.")
@click.option("--force", is_flag=True, help="Forget a pinned or the newest known-good one too.")
@site_options
@click.pass_context
def forget_cmd(
    ctx: click.Context,
    refs: tuple[str, ...],
    dry_run: bool,
    force: bool,
    root: str | None,
    json_mode: bool,
) -> None:
    """Take checkpoints out of the list ('safepoint undelete' brings them back until the
    next 'safepoint gc', which frees their space)."""
    out = output(ctx, json_mode)
    with site(root) as s:
        result = forget(s, refs, dry_run=dry_run, force=force)
    if json_mode:
        out.json({"dry_run": dry_run, "forgotten": [_doc(cp) for cp in result.checkpoints]})
        return
    verb = "would forget" if dry_run else "forgotten"
    for cp in result.checkpoints:
        out.line(f"{verb}: {_name(cp)}")
    if not dry_run:
        out.line(f"undelete with 'safepoint undelete REF'; {GC_HINT}")


@click.command("undelete")
@click.argument("ref")
@site_options
@click.pass_context
def undelete_cmd(ctx: click.Context, ref: str, root: str | None, json_mode: bool) -> None:
    """Bring back a forgotten checkpoint (see 'safepoint list --forgotten')."""
    out = output(ctx, json_mode)
    with site(root) as s:
        cp = undelete(s, ref)
    if json_mode:
        out.json(_doc(cp))
    else:
        out.line(f"undeleted: {_name(cp)}")


def _keep(name: str, what: str) -> Callable[[F], F]:
    return click.option(f"--keep-{name}", type=click.IntRange(1, MAX_KEEP), help=what)


@click.command("prune")
@_keep("last", "Keep the N newest checkpoints.")
@_keep("hourly", "Keep the newest checkpoint of each of the last N hours that have one.")
@_keep("daily", "... of each of the last N days that have one.")
@_keep("weekly", "... of each of the last N weeks (ISO) that have one.")
@_keep("monthly", "... of each of the last N months that have one.")
@_keep("yearly", "... of each of the last N years that have one.")
@click.option("--keep-within", help="Keep all made within DURATION (2y5m7d3h) of the newest.")
@click.option("--keep-label", multiple=True, help="Keep all with this label (repeatable).")
@click.option(
    "--keep-safety-within", help="Keep safety checkpoints of the last DURATION (default 7d)."
)
@click.option("--dry-run", is_flag=True, help="Print what is kept (and why) and what goes.")
@site_options
@click.pass_context
def prune_cmd(
    ctx: click.Context,
    keep_within: str | None,
    keep_label: tuple[str, ...],
    keep_safety_within: str | None,
    dry_run: bool,
    root: str | None,
    json_mode: bool,
    **quotas: int | None,
) -> None:
    """Forget the checkpoints a retention policy does not keep (the options, else [retention]
    of safepoint.toml). Always kept: pinned, the newest known-good, the one the tree last
    matched, and what a pending rollback needs. Forgotten checkpoints can be undeleted until
    'safepoint gc', which frees their space."""
    out = output(ctx, json_mode)
    with site(root) as s:
        config = s.config.retention
        given = {k: v for k, v in quotas.items() if v is not None}
        if given or keep_within or keep_label:  # the command line replaces the policy
            config = RetentionConfig(
                **{k: given.get(k, 0) for k in QUOTAS},  # type: ignore[arg-type]
                keep_within=keep_within,
                keep_label=keep_label,
                keep_safety_within=config.keep_safety_within,
            )
        if keep_safety_within:
            config = replace(config, keep_safety_within=keep_safety_within)
        result = prune(s, policy_from(config), dry_run=dry_run)
    report_prune(out, result, json_mode=json_mode)


def report_prune(out: Output, result: PruneResult, *, json_mode: bool) -> None:
    if json_mode:
        out.json(
            {
                "dry_run": result.dry_run,
                "policy": result.policy.describe(),
                "kept": [{**_doc(v.checkpoint), "reasons": list(v.reasons)} for v in result.kept],
                "forgotten": [_doc(v.checkpoint) for v in result.forgotten],
            }
        )
        return
    for v in result.verdicts:
        when = v.checkpoint.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        if v.keep:
            out.line(f"keep    {when}  {_name(v.checkpoint)}: {printable(', '.join(v.reasons))}")
        else:
            verb = "gone" if result.dry_run else "forget"
            out.line(f"{verb:<7} {when}  {_name(v.checkpoint)}")
    gone = len(result.forgotten)
    if result.dry_run:
        out.line(f"{len(result.kept)} kept, {gone} would be forgotten (dry run: nothing changed)")
    else:
        out.line(f"{len(result.kept)} kept, {gone} forgotten; {GC_HINT}")
