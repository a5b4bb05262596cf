"""``safepoint fleet rollback`` and ``fleet undo``: the shipped playbooks run, their results read.

The rollback playbook checks every host first (preflight) and stops before any change when one
cannot roll back; then it rolls back batch by batch (``serial``), each host proving itself
healthy (and undoing itself when it is not), and stops when more hosts have failed than
``max_fail`` allows. A run that stopped is then undone here: every host that the run reached is
put back to the checkpoint its tree matched before (``before-<host>.json`` in the journal), which
is also what ``fleet undo`` does for a run that was interrupted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safepoint.errors import ExitStatus, OperationalError, SafepointError, UsageError
from safepoint.fleet import journal, report
from safepoint.fleet.playbook import log_tail, run_playbook
from safepoint.fleet.report import FleetResult, HostReport

_BATCH = re.compile(r"([1-9][0-9]*)(%?)")


def parse_batches(text: str) -> list[int | str]:
    """``1,25%,100%`` -> ``[1, "25%", "100%"]`` (Ansible's ``serial`` list)."""
    batches: list[int | str] = []
    for part in text.split(","):
        match = _BATCH.fullmatch(part.strip())
        if match is None or (match.group(2) and int(match.group(1)) > 100):
            raise UsageError(
                f"--batches {text!r}: each batch is a number of hosts or a percentage "
                "(1..100%), separated by commas, e.g. 1,25%,100%"
            )
        count = int(match.group(1))
        batches.append(f"{count}%" if match.group(2) else count)
    return batches


@dataclass(frozen=True)
class FleetOptions:
    ref: str
    inventory: str | Path
    limit: str | None = None
    batches: str = "1,25%,100%"
    max_fail: int = 0
    migrate: bool = False
    with_db: bool = False
    check_url: str | None = None


def inventory_path(path: str | Path) -> Path:
    inventory = Path(path).expanduser().resolve()
    if not inventory.exists():
        raise UsageError(f"inventory {path} does not exist")
    return inventory


def fleet_rollback(options: FleetOptions) -> FleetResult:
    """Run the whole flow; the result says what happened on each host and the exit code."""
    if options.max_fail < 0:
        raise UsageError("--max-fail must be 0 or more")
    batches = parse_batches(options.batches)
    inventory = inventory_path(options.inventory)
    previous = journal.last_run(inventory)
    # An interrupted run (no ended.json): this run finishes its job. Hosts it left mid-rollback
    # are recovered first, and an undo still goes back to where that run found each host.
    resumed = previous if previous is not None and previous.ended is None else None
    run = journal.new_run(
        {
            "ref": options.ref,
            "inventory": str(inventory),
            "limit": options.limit,
            "batches": batches,
            "max_fail": options.max_fail,
            "resumes": resumed.name if resumed else None,
            "carried": resumed.befores() if resumed else {},
            "carried_databases": resumed.databases() if resumed else {},
        }
    )
    extra: dict[str, Any] = {
        "safepoint_ref": options.ref,
        "safepoint_batches": batches,
        "safepoint_max_fail": options.max_fail,
        "safepoint_migrate": options.migrate,
        "safepoint_with_db": options.with_db,
        "safepoint_recover": resumed is not None,
    }
    if options.check_url:
        extra["safepoint_check_url"] = options.check_url
    rc = run_playbook(
        "rollback", inventory=inventory, folder=run.folder, extra_vars=extra, limit=options.limit
    )
    try:
        result = _read_rollback(run, options.ref, rc)
    except SafepointError as exc:  # no host changed: the run is over, not interrupted
        run.end(f"error: {exc}", int(exc.exit_code))
        raise
    run.end(result.outcome, result.exit_code)
    if resumed is not None and resumed.ended is None:
        resumed.end(f"resumed by {run.name}", result.exit_code)
    return result


def _read_rollback(run: journal.Run, ref: str, rc: int) -> FleetResult:
    preflight = run.results("preflight")
    if not preflight:
        raise OperationalError(
            f"ansible-playbook exited {rc} before any host was checked: "
            f"{log_tail(run.folder, 'rollback')} (log in {run.folder})"
        )
    ids = {report.result_of(d).get("id") for d in preflight.values() if not report.failed(d)}
    target = next(iter(ids)) if len(ids) == 1 else None
    reached = run.results("before")
    refused = any(report.failed(d) for d in preflight.values()) or len(ids) > 1
    if not reached and refused:
        return _refusal(run, ref, preflight, ids)
    if not reached and rc != 0:  # every host passed, yet Ansible stopped: say where
        raise OperationalError(
            f"ansible-playbook exited {rc} after the preflight, before any host changed: "
            f"{log_tail(run.folder, 'rollback')} (log in {run.folder})"
        )
    rolled = run.results("rollback")
    complete = rc == 0 and all(h in rolled for h in preflight)
    if complete:
        hosts = [_rolled_back(h, run, rolled.get(h)) for h in preflight]
        failures = [h.host for h in hosts if h.error]
        note = f"; failed within --max-fail: {', '.join(failures)}" if failures else ""
        return FleetResult(
            report.ROLLED_BACK,
            ExitStatus.OK,
            str(run.folder),
            ref,
            target,
            hosts,
            f"{len(hosts) - len(failures)} of {len(hosts)} hosts at {ref}{note}",
        )
    failures = [h for h, d in rolled.items() if report.failed(d)] or ["the fleet check"]
    undone = put_back(run)
    why = f"stopped after {', '.join(failures)} failed"
    return _after_undo(run, ref, target, undone, why)


def _refusal(
    run: journal.Run, ref: str, preflight: dict[str, dict[str, Any]], ids: set[Any]
) -> FleetResult:
    hosts = []
    for host, doc in preflight.items():
        inner = report.result_of(doc)
        reason = report.message(doc) if report.failed(doc) else None
        if reason is None and len(ids) > 1:
            reason = f"{ref} is {str(inner.get('id'))[:12]} here; the hosts disagree"
        hosts.append(
            HostReport(host, "refused" if reason else "ready", inner.get("before"), error=reason)
        )
    return FleetResult(
        report.REFUSED,
        ExitStatus.USAGE,
        str(run.folder),
        ref,
        None,
        hosts,
        f"preflight refused the rollback to {ref}; no host was changed",
    )


def _rolled_back(host: str, run: journal.Run, doc: dict[str, Any] | None) -> HostReport:
    inner = report.result_of(doc)
    before = run.befores().get(host)
    if inner.get("already"):
        return HostReport(host, "ok, already there", before, inner.get("target"))
    row = HostReport(
        host,
        report.ROLLED_BACK,
        before,
        inner.get("target"),
        inner.get("safety"),
        report.health(inner),
        inner.get("seconds"),
    )
    if report.failed(doc):
        row.state, row.error = "failed", report.message(doc)
        row.after = before if inner.get("undone") else None
    return row


def put_back(run: journal.Run, hosts: list[str] | None = None) -> dict[str, HostReport]:
    """Every host the run reached (or ``hosts``) back to where the run found it."""
    befores = run.befores()
    wanted = {h: c for h, c in befores.items() if hosts is None or h in hosts}
    if not wanted:
        return {}
    databases = _databases_to_put_back(run, wanted)
    run.clear("undo")
    info = run.info
    rc = run_playbook(
        "undo",
        inventory=Path(info["inventory"]),
        folder=run.folder,
        extra_vars={"safepoint_undo": wanted, "safepoint_undo_db": databases},
        limit=",".join(sorted(wanted)),
    )
    undone = run.results("undo")
    rolled = run.results("rollback")
    rows: dict[str, HostReport] = {}
    for host, before in wanted.items():
        doc = undone.get(host)
        inner = report.result_of(doc)
        mine = report.result_of(rolled.get(host))
        changed = bool(doc and doc.get("changed"))
        row = HostReport(
            host,
            "put back",
            before,
            before,
            mine.get("safety"),
            # the proof after going back; for a host that was already back (it undid its own
            # rollback), how its rollback ended
            report.health(inner if changed else mine),
            mine.get("seconds"),
        )
        if report.failed(doc):
            tail = "" if doc else f" ({log_tail(run.folder, 'undo')}, exit {rc})"
            row.state, row.after, row.error = "undo failed", None, report.message(doc) + tail
        elif not changed:
            row.state = "already back" if host in rolled else "was not changed"
        rows[host] = row
    return rows


def _databases_to_put_back(run: journal.Run, wanted: dict[str, str]) -> dict[str, str]:
    """The database host of a run with database steps, unless its database is back already:
    its own rollback undid itself (the safety snapshot went back with its files), or an
    earlier undo of this run succeeded there. A second restore would throw away what the
    site wrote since the first."""
    rolled, undone = run.results("rollback"), run.results("undo")
    back = {
        h for h, d in rolled.items() if report.failed(d) and report.result_of(d).get("undone")
    } | {h for h, d in undone.items() if not report.failed(d)}
    return {h: how for h, how in run.databases().items() if h in wanted and h not in back}


def _after_undo(
    run: journal.Run, ref: str, target: str | None, rows: dict[str, HostReport], why: str
) -> FleetResult:
    broken = [r.host for r in rows.values() if r.error]
    if broken:
        return FleetResult(
            report.UNDO_FAILED,
            ExitStatus.CHANGE_ROLLBACK_FAILED,
            str(run.folder),
            ref,
            target,
            list(rows.values()),
            f"{why}, and putting them back failed on {', '.join(broken)}",
        )
    return FleetResult(
        report.PUT_BACK,
        ExitStatus.UNHEALTHY,
        str(run.folder),
        ref,
        target,
        list(rows.values()),
        f"{why}; every host was put back where it was",
    )


def fleet_undo(inventory: str | Path | None = None) -> FleetResult:
    """Put every host of the last fleet run back where that run found it."""
    run = journal.require_last_run(inventory_path(inventory) if inventory else None)
    ref = run.info.get("ref")
    rows = put_back(run)
    if not rows:
        return FleetResult(
            report.NOTHING,
            ExitStatus.OK,
            str(run.folder),
            ref,
            message="the last fleet run changed no host",
        )
    result = _after_undo(run, str(ref), None, rows, f"fleet run {run.name}")
    if result.exit_code == ExitStatus.UNHEALTHY:  # asked for: success
        result.outcome, result.exit_code = report.UNDONE, ExitStatus.OK
        result.message = f"every host of fleet run {run.name} is back where that run found it"
    if run.ended is None:
        run.end(report.UNDONE if result.ok else result.outcome, result.exit_code)
    return result
