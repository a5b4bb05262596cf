"""``safepoint gc``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import human_size
from safepoint.ops.gc import gc as run_gc


@click.command()
@click.option(
    "--dry-run", is_flag=True, help="Say what would be deleted and repacked; change nothing."
)
@click.option(
    "--max-unused",
    type=float,
    default=10.0,
    show_default=True,
    metavar="PERCENT",
    help="Repack a pack once more than this share of it is unused.",
)
@site_options
@click.pass_context
def gc(
    ctx: click.Context, dry_run: bool, max_unused: float, root: str | None, json_mode: bool
) -> None:
    """Delete forgotten checkpoints for good and give back the space nothing needs."""
    out = output(ctx, json_mode)
    with site(root) as s:
        r = run_gc(s, dry_run=dry_run, max_unused=max_unused)
    if json_mode:
        out.json(
            {
                "dry_run": r.dry_run,
                "checkpoints": r.checkpoints,
                "forgotten_removed": r.forgotten,
                "packs_deleted": r.deleted_packs,
                "packs_repacked": r.repacked_packs,
                "blobs_copied": r.copied_blobs,
                "blobs_missing": r.missing_blobs,
                "bytes_before": r.bytes_before,
                "bytes_after": r.bytes_after,
                "bytes_freed": r.freed,
                "remote": r.remote,
            }
        )
        return
    out.line(
        f"{r.checkpoints} checkpoints kept; {len(r.forgotten)} forgotten checkpoint(s) "
        f"{'would be ' if dry_run else ''}removed for good"
    )
    out.line(
        f"packs: {r.deleted_packs} deleted, {r.repacked_packs} repacked "
        f"({r.copied_blobs} blobs copied)" + (" (dry run)" if dry_run else "")
    )
    out.line(
        f"{'would free' if dry_run else 'freed'} {human_size(r.freed)}"
        + (f" on {r.remote}" if r.remote else "")
        + f": packs {human_size(r.bytes_before)} -> {human_size(r.bytes_after)}"
    )
    if r.missing_blobs:
        out.env.stderr.write(
            f"safepoint: warning: {r.missing_blobs} blob(s) the checkpoints need are missing; "
            "run 'safepoint check' and 'safepoint repair'\n"
        )
