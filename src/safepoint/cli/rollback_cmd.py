"""``safepoint rollback`` and ``safepoint recover``."""

from __future__ import annotations

import click

from safepoint.cli.common import (
    output,
    print_not_restored,
    print_rollback,
    site,
    site_options,
)
from safepoint.cli.env import Environment
from safepoint.cli.health_cmd import DEADLINE_HELP
from safepoint.cli.output import Output, human_size, printable
from safepoint.cli.proof_output import proof_progress
from safepoint.errors import ExitStatus, UnhealthyError, UsageError
from safepoint.ops.apply import recover_site
from safepoint.ops.migrations import MigrationOptions
from safepoint.ops.rollback import RollbackResult, rollback
from safepoint.ops.site import Site


def _describe_plan(out: Output, result: RollbackResult) -> None:
    plan = result.plan
    t = result.target
    out.line(
        f"rollback to {t.short_id}{f' ({t.label})' if t.label else ''}, "
        f"created {t.created_at.astimezone():%Y-%m-%d %H:%M:%S}:"
    )
    for e in plan.write + plan.link:
        out.line(f"  write   {e.path}")
    for e in plan.remove:
        out.line(f"  remove  {e.path}{'/' if e.kind == 'd' else ''}")
    for e in plan.mkdir:
        out.line(f"  mkdir   {e.path}/")
    for e in plan.restamp:
        out.line(f"  restamp {e.path}")
    for path in plan.restamp_dirs:
        out.line(f"  restamp {path}/")
    out.line(
        f"{len(plan.write) + len(plan.link)} to write ({human_size(plan.write_bytes)}), "
        f"{len(plan.remove)} to remove, {plan.unchanged} unchanged"
    )


def _confirm(env: Environment, out: Output, s: Site):  # type: ignore[no-untyped-def]
    def ask(preview: RollbackResult) -> bool:
        _describe_plan(out, preview)
        print_not_restored(out, preview)
        env.stdout.write(f"Roll back {printable(str(s.root))}? [y/N] ")
        env.stdout.flush()
        return env.stdin.readline().strip().lower() in ("y", "yes")

    return ask


@click.command("rollback")
@click.argument("ref", required=False)
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--no-health",
    is_flag=True,
    help="Skip the health checks afterwards (the app is still reloaded, the hooks still run).",
)
@click.option("--deadline", type=click.FloatRange(min=0, min_open=True), help=DEADLINE_HELP)
@click.option(
    "--migrate",
    is_flag=True,
    help="When the database has migrations the target does not know, reverse them first "
    "(manage.py migrate APP TARGET, with the current code).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Roll the code back even if the database keeps migrations the target does not know.",
)
@click.option(
    "--with-db",
    is_flag=True,
    help="Bring the database back to REF's snapshot too (a safety snapshot is taken first).",
)
@site_options
@click.pass_context
def rollback_cmd(
    ctx: click.Context,
    ref: str | None,
    dry_run: bool,
    yes: bool,
    no_health: bool,
    deadline: float | None,
    migrate: bool,
    force: bool,
    with_db: bool,
    root: str | None,
    json_mode: bool,
) -> int:
    """Bring the site back to REF in place (default: the newest known-good checkpoint), reload
    the app, run the hooks and prove it healthy; undo it if it is not."""
    out = output(ctx, json_mode)
    env = out.env
    if migrate and force:
        raise UsageError("--migrate and --force exclude each other")
    if not (dry_run or yes or env.stdin_isatty):
        raise UsageError("rollback changes the site: confirm with --yes (no terminal to ask on)")

    def hook_output(line: str) -> None:
        env.stderr.write(f"  | {printable(line)}\n")

    with site(root) as s:
        confirm = None if (yes or dry_run) else _confirm(env, out, s)
        with proof_progress(out, deadline=deadline) as proof_options:
            result = rollback(
                s,
                ref,
                dry_run=dry_run,
                confirm=confirm,
                progress=out.progress(),
                warn=out.warn,
                check_health=not no_health,
                hook_output=hook_output,
                proof_options=proof_options,
                migrations=MigrationOptions(migrate=migrate, force=force),
                with_db=with_db,
            )
        if dry_run and not json_mode:
            _describe_plan(out, result)
            print_not_restored(out, result)
            out.line("dry run: nothing was changed")
            return int(ExitStatus.OK)
    print_rollback(out, result)
    if with_db and not result.undone and not json_mode:
        safety = result.safety.short_id if result.safety else "?"
        out.line(
            f"database restored to the snapshot of {result.target.short_id} "
            f"(undo both with: safepoint rollback {safety} --with-db)"
        )
    if result.undone:
        raise UnhealthyError(result.undo_summary())  # exit 4, after the report
    return int(ExitStatus.OK)


@click.command()
@site_options
@click.pass_context
def recover(ctx: click.Context, root: str | None, json_mode: bool) -> None:
    """Finish or undo a rollback that was interrupted."""
    out = output(ctx, json_mode)
    with site(root) as s:
        journal, cp = recover_site(s, progress=out.progress(), warn=out.warn)
    if json_mode:
        out.json(
            {
                "pending": journal is not None,
                "checkpoint": cp.id if cp else None,
                "finished": bool(journal and cp and cp.id == journal.target),
            }
        )
    elif journal is None or cp is None:
        out.line("nothing to recover")
    elif cp.id == journal.target:
        out.line(f"finished the interrupted rollback: the site is at {cp.short_id}")
    else:
        out.line(
            f"the interrupted rollback could not be finished; the site is back at its "
            f"safety checkpoint {cp.short_id}"
        )
