"""``safepoint fleet``: rollback, undo, status and collection-path (the rules: safepoint.fleet)."""

from __future__ import annotations

import click

from safepoint.cli.common import env_of, output
from safepoint.cli.output import Output
from safepoint.cli.table import Column, Section
from safepoint.errors import ExitStatus, SafepointError, UsageError
from safepoint.fleet.report import FleetResult

JSON_HELP = "Print one JSON document on stdout."


def _short(cid: object) -> str:
    return str(cid)[:12] if cid else "-"


class FleetFailed(SafepointError):
    """A fleet run that stopped: its exit code is the run's (2, 4 or 6)."""

    def __init__(self, result: FleetResult) -> None:
        super().__init__(result.message)
        self.exit_code = ExitStatus(result.exit_code)


def _print(out: Output, result: FleetResult) -> None:
    if out.json_mode:
        out.json(result.to_json())
        return
    columns = [
        Column("host"),
        Column("state", cut=True),
        Column("before"),
        Column("after"),
        Column("safety", drop=2),
        Column("health", drop=1),
        Column("seconds", drop=0, right=True),
    ]
    rows = [
        [
            h.host,
            h.state + (f": {h.error}" if h.error else ""),
            _short(h.before),
            _short(h.after),
            _short(h.safety),
            h.health or "-",
            f"{h.seconds:.1f}" if h.seconds is not None else "-",
        ]
        for h in result.hosts
    ]
    out.table(columns, [Section(rows)])
    if result.ok:
        out.line(result.message)
    out.line(f"fleet journal: {result.run}")


def _finish(out: Output, result: FleetResult) -> int:
    _print(out, result)
    if not result.ok:
        raise FleetFailed(result)  # one line on stderr, after the report
    return int(ExitStatus.OK)


@click.group()
def fleet() -> None:
    """Roll every host of a site back together, on Ansible (docs/FLEET.md)."""


@fleet.command("rollback")
@click.argument("ref")
@click.option("--inventory", "-i", required=True, help="Ansible inventory of the site's hosts.")
@click.option("--limit", "-l", help="Only the hosts matching this Ansible pattern.")
@click.option(
    "--batches",
    default="1,25%,100%",
    show_default=True,
    help="Hosts per batch, in order (numbers or percentages); the last repeats.",
)
@click.option(
    "--max-fail",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Hosts that may fail over the whole run before it stops and puts every host back.",
)
@click.option("--migrate", is_flag=True, help="Reverse newer migrations, once, on the first host.")
@click.option("--with-db", is_flag=True, help="Restore REF's database snapshot, on the first host.")
@click.option("--check-url", help="An HTTP check (through the load balancer) after each batch.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "json_mode", is_flag=True, help=JSON_HELP)
@click.pass_context
def rollback(
    ctx: click.Context,
    ref: str,
    inventory: str,
    limit: str | None,
    batches: str,
    max_fail: int,
    migrate: bool,
    with_db: bool,
    check_url: str | None,
    yes: bool,
    json_mode: bool,
) -> int:
    """Roll every host back to REF in batches, each proven healthy; put every host back when
    more than --max-fail hosts fail."""
    from safepoint.fleet.rollback import FleetOptions, fleet_rollback, parse_batches

    env_of(ctx).json_mode = json_mode
    out = output(ctx, json_mode)
    env = out.env
    parse_batches(batches)  # a bad value is refused before anything runs
    if migrate and with_db:
        raise UsageError("--migrate and --with-db exclude each other")
    if not yes:
        if not env.stdin_isatty:
            raise UsageError("fleet rollback changes every host: confirm with --yes")
        env.stdout.write(f"Roll back every host of {inventory} to {ref}? [y/N] ")
        env.stdout.flush()
        if env.stdin.readline().strip().lower() not in ("y", "yes"):
            raise UsageError("fleet rollback aborted; nothing was changed")
    options = FleetOptions(ref, inventory, limit, batches, max_fail, migrate, with_db, check_url)
    return _finish(out, fleet_rollback(options))


@fleet.command("undo")
@click.option("--inventory", "-i", help="The last run of this inventory (default: the last run).")
@click.option("--json", "json_mode", is_flag=True, help=JSON_HELP)
@click.pass_context
def undo(ctx: click.Context, inventory: str | None, json_mode: bool) -> int:
    """Put every host back where the last fleet run found it (finishes an interrupted run)."""
    from safepoint.fleet.rollback import fleet_undo

    env_of(ctx).json_mode = json_mode
    out = output(ctx, json_mode)
    return _finish(out, fleet_undo(inventory))


@fleet.command("status")
@click.option("--inventory", "-i", required=True, help="Ansible inventory of the site's hosts.")
@click.option("--limit", "-l", help="Only the hosts matching this Ansible pattern.")
@click.option("--json", "json_mode", is_flag=True, help=JSON_HELP)
@click.pass_context
def status(ctx: click.Context, inventory: str, limit: str | None, json_mode: bool) -> int:
    """Per host: the checkpoint the tree matches, a pending recovery, the last fleet rollback."""
    from safepoint.fleet.status import fleet_status

    env_of(ctx).json_mode = json_mode
    out = output(ctx, json_mode)
    rows = fleet_status(inventory, limit)
    if json_mode:
        out.json([r.to_json() for r in rows])
    else:
        columns = [Column("host"), Column("matches"), Column("last fleet rollback", cut=True)]
        table = []
        for r in rows:
            if r.error:
                matches = f"error: {r.error}"
            elif r.pending_recovery:
                matches = "RECOVERY PENDING"
            else:
                matches = _short(r.matches) if r.matches else f"modified ({_short(r.last_matched)})"
            table.append([r.host, matches, r.last_rollback or "-"])
        out.table(columns, [Section(table)])
    return int(ExitStatus.OK if all(r.error is None for r in rows) else ExitStatus.ERROR)


@fleet.command("collection-path")
@click.pass_context
def collection_path(ctx: click.Context) -> None:
    """Where the safepoint.fleet Ansible collection is, for ansible-galaxy collection install."""
    from safepoint.fleet.playbook import COLLECTION

    output(ctx, False).line(str(COLLECTION))
