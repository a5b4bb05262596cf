"""``safepoint status`` and ``safepoint diff``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import Output
from safepoint.ops.migrations import migration_notes
from safepoint.ops.status import Side, diff_sides, pending
from safepoint.restore.plan import Changes


def _report(
    out: Output,
    left: Side,
    right: Side,
    changes: Changes,
    recovery: str | None = None,
    migrations: list[str] | None = None,
) -> None:
    if out.json_mode:
        out.json(
            {
                "from": left.checkpoint.id if left.checkpoint else None,
                "to": right.checkpoint.id if right.checkpoint else None,
                "clean": changes.empty,
                **changes.to_json(),
                "pending_recovery": recovery,
                "migrations": migrations or [],
            }
        )
        return
    if recovery is not None:
        out.line(f"RECOVERY PENDING: {recovery}")
    out.line(f"{left.name} -> {right.name}")
    for note in migrations or []:  # the database and the code disagree (ops/migrations.py)
        out.line(f"migrations: {note}")
    if changes.empty:
        out.line("no changes")
        return
    rows = [("added", e.path) for e in changes.added]
    rows += [("modified", b.path) for _, b in changes.modified]
    rows += [("deleted", e.path) for e in changes.deleted]
    rows += [("mode", f"{b.path} ({a.mode:04o} -> {b.mode:04o})") for a, b in changes.mode_changed]
    for what, path in sorted(rows, key=lambda r: r[1]):
        out.line(f"  {what:<9} {path}")
    out.line(
        f"{len(changes.added)} added, {len(changes.modified)} modified, "
        f"{len(changes.deleted)} deleted, {len(changes.mode_changed)} mode changed"
    )


@click.command()
@site_options
@click.pass_context
def status(ctx: click.Context, root: str | None, json_mode: bool) -> None:
    """The working tree against the checkpoint it last matched."""
    out = output(ctx, json_mode)
    with site(root) as s:
        left, right, changes = diff_sides(s, None, None)
        notes = migration_notes(s, None)
        _report(out, left, right, changes, recovery=pending(s), migrations=notes)


@click.command()
@click.argument("a", required=False)
@click.argument("b", required=False)
@site_options
@click.pass_context
def diff(
    ctx: click.Context, a: str | None, b: str | None, root: str | None, json_mode: bool
) -> None:
    """Between checkpoints A and B, or checkpoint A and the working tree."""
    out = output(ctx, json_mode)
    with site(root) as s:
        left, right, changes = diff_sides(s, a, b)
        notes = migration_notes(s, left.checkpoint, right.checkpoint)
        _report(out, left, right, changes, recovery=pending(s), migrations=notes)
