"""``safepoint create``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, read_note, site, site_options
from safepoint.cli.copy_cmd import report_mirror
from safepoint.cli.found import fold
from safepoint.cli.health_cmd import DEADLINE_HELP
from safepoint.cli.output import human_size, printable
from safepoint.cli.proof_output import proof_progress
from safepoint.errors import ExitStatus, UsageError
from safepoint.ops.create import create_checkpoint


@click.command()
@click.option("--label", "-l", help="A name to refer to the checkpoint by.")
@click.option("--note", help="A note kept with the checkpoint.")
@click.option(
    "--note-file",
    type=click.Path(dir_okay=False),
    help="Keep this file's content (e.g. CHECKPOINT.md) as the note.",
)
@click.option(
    "--pin",
    is_flag=True,
    help="Mark this checkpoint pinned (prune keeps it; forget needs --force).",
)
@click.option(
    "--verify-health",
    is_flag=True,
    help="Run the health checks; mark the checkpoint known-good only if they pass.",
)
@click.option(
    "--reload",
    "reload_app",
    is_flag=True,
    help="With --verify-health: reload the app and run the hooks first, so the checks see "
    "these files.",
)
@click.option("--deadline", type=click.FloatRange(min=0, min_open=True), help=DEADLINE_HELP)
@click.option(
    "--with-db", is_flag=True, help="Store a snapshot of the site's database ([database]) too."
)
@site_options
@click.pass_context
def create(
    ctx: click.Context,
    label: str | None,
    note: str | None,
    note_file: str | None,
    pin: bool,
    verify_health: bool,
    reload_app: bool,
    deadline: float | None,
    with_db: bool,
    root: str | None,
    json_mode: bool,
) -> int:
    """Make a checkpoint of the site."""
    out = output(ctx, json_mode)
    text = read_note(note, note_file)
    if (reload_app or deadline is not None) and not verify_health:
        raise UsageError("--reload and --deadline go with --verify-health")
    with site(root) as s, proof_progress(out, deadline=deadline) as proof_options:
        result = create_checkpoint(
            s,
            label=label,
            note=text,
            pin=pin,
            verify_health=verify_health,
            reload=reload_app,
            progress=out.progress(),
            proof_options=proof_options,
            with_db=with_db,
        )
    for path, reason in result.skipped:
        out.warn(f"skipped {path}: {reason}")
    cp = result.checkpoint
    healthy = result.health is None or result.health.ok
    mirrored = report_mirror(out, result.mirrored)
    if json_mode:
        out.json(
            {
                **cp.to_json(),
                "short_id": cp.short_id,
                "hashed": result.hashed,
                "skipped": [p for p, _ in result.skipped],
                "not_in_checkpoints": [{"path": p, "what": w} for p, w in result.found],
                "health_report": result.health.to_json() if result.health else None,
                "not_proven": result.not_proven or result.proof_error,
                "forgotten": [v.checkpoint.id for v in result.pruned.forgotten]
                if result.pruned
                else [],
                "mirror": mirrored,
            }
        )
    else:
        out.line(
            f"checkpoint {cp.short_id}{f' ({cp.label})' if cp.label else ''}: "
            f"{cp.files} files, {human_size(cp.bytes)}, "
            f"{human_size(cp.new_bytes)} newly stored"
        )
        if result.found:
            out.line(f"not in checkpoints: {fold(result.found)}")
        if result.pruned and result.pruned.forgotten:
            out.line(
                f"[retention] forgot {len(result.pruned.forgotten)} checkpoint(s) "
                "(safepoint list --forgotten; run 'safepoint gc' to free the space)"
            )
        if result.health is not None:
            from safepoint.cli.health_cmd import print_report

            print_report(out, result.health, indent="  ")
            out.line("marked known-good" if healthy else "marked bad (kept; not known-good)")
    unproven = result.not_proven or result.proof_error
    if unproven:
        out.line("not marked (not proven on these files)")
        out.env.stderr.write(f"safepoint: checkpoint {cp.short_id} kept, not marked: {unproven}\n")
        return int(ExitStatus.UNHEALTHY)
    if result.health is not None and not healthy:
        out.env.stderr.write(
            f"safepoint: checkpoint {cp.short_id} kept but marked bad: "
            f"{printable(result.health.summary())}\n"
        )
        return int(ExitStatus.UNHEALTHY)
    return int(ExitStatus.OK)
