"""``safepoint health`` and ``safepoint guard``."""

from __future__ import annotations

from dataclasses import replace

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import Output, printable
from safepoint.cli.proof_output import proof_progress
from safepoint.errors import ExitStatus, UsageError
from safepoint.health import HealthReport, run_checks
from safepoint.ops.guard import guard_loop, guard_poll, log_line
from safepoint.ops.prove import check_deadline
from safepoint.ops.site import Site


def print_report(out: Output, report: HealthReport, *, indent: str = "") -> None:
    for r in report.results:
        latency = f"{r.latency * 1000:.0f} ms" if r.latency is not None else "-"
        mark = "ok  " if r.ok else "FAIL"
        tries = f", {r.attempts} attempts" if r.attempts > 1 else ""
        out.line(f"{indent}{mark} {r.kind:<7} {r.name}  ({r.detail}, {latency}{tries})")
    out.line(f"{indent}{report.summary()}")


def _require_checks(s: Site) -> None:
    if not s.config.health.configured:
        raise UsageError(
            f"no health checks configured: add [[health.http]] or "
            f"[[health.command]] to {s.root / 'safepoint.toml'}"
        )


DEADLINE_HELP = (
    "Seconds the health proof (retries, then the settle window) may take "
    "(default: [health] deadline, 20)."
)


@click.command()
@click.option("--deadline", type=click.FloatRange(min=0, min_open=True), help=DEADLINE_HELP)
@site_options
@click.pass_context
def health(ctx: click.Context, deadline: float | None, root: str | None, json_mode: bool) -> int:
    """Run the configured health checks now, over the settle window (exit 4 if any fails)."""
    out = output(ctx, json_mode)
    with site(root) as s:
        _require_checks(s)
        with proof_progress(out, deadline=deadline) as options:
            check_deadline(s, deadline)
            config = s.config.health
            if deadline is not None:
                config = replace(config, deadline=deadline)
            report = run_checks(config, root=s.root, on_attempt=options.on_attempt)
    if json_mode:
        out.json(report.to_json())
    else:
        print_report(out, report)
    return int(ExitStatus.OK if report.ok else ExitStatus.UNHEALTHY)


@click.command()
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1, max=86400),
    help="Seconds between polls (default: [guard] interval, 30).",
)
@click.option(
    "--failures",
    type=click.IntRange(min=1),
    help="Consecutive failed polls before rolling back (default: [guard] failures, 3).",
)
@click.option(
    "--cooldown",
    type=click.FloatRange(min=0, max=86400),
    help="Seconds after a rollback before another (default: [guard] cooldown, 600).",
)
@click.option("--once", is_flag=True, help="Run one poll cycle and exit (for cron and tests).")
@site_options
@click.pass_context
def guard(
    ctx: click.Context,
    interval: float | None,
    failures: int | None,
    cooldown: float | None,
    once: bool,
    root: str | None,
    json_mode: bool,
) -> int:
    """Watch health; roll back to the newest known-good checkpoint after N failures."""
    out = output(ctx, json_mode)
    env = out.env

    def write(line: str) -> None:
        env.stdout.write(printable(line) + "\n")
        env.stdout.flush()

    log = log_line(write)
    with site(root) as s:
        _require_checks(s)
        cfg = s.config.guard
        needed = failures or cfg.failures
        wait = cooldown if cooldown is not None else cfg.cooldown
        if once:
            state = guard_poll(s, failures_needed=needed, cooldown=wait, log=log)
            return int(ExitStatus.OK if state.failures == 0 else ExitStatus.UNHEALTHY)
        guard_loop(
            s, interval=interval or cfg.interval, failures_needed=needed, cooldown=wait, log=log
        )
    return int(ExitStatus.OK)
