"""``safepoint fleet status``: per host, the checkpoint its tree matches and the last fleet
rollback (from the journal). Reads only: its results go to a temporary folder, not the journal."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from safepoint.fleet import journal, report
from safepoint.fleet.playbook import run_playbook
from safepoint.fleet.rollback import inventory_path


@dataclass(frozen=True)
class HostStatus:
    host: str
    matches: str | None  # the checkpoint the tree matches; None: modified, or unknown
    last_matched: str | None
    pending_recovery: str | None
    last_rollback: str | None  # "<outcome> (<host's state>) <run>" of the last fleet run
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fleet_status(inventory: str | Path, limit: str | None = None) -> list[HostStatus]:
    path = inventory_path(inventory)
    last = journal.last_run(path)
    with tempfile.TemporaryDirectory(prefix="safepoint-fleet-status-") as tmp:
        run_playbook("status", inventory=path, folder=Path(tmp), extra_vars={}, limit=limit)
        found = journal.Run(Path(tmp)).results("status")
    rows = []
    for host, doc in sorted(found.items()):
        inner = report.result_of(doc)
        rows.append(
            HostStatus(
                host,
                inner.get("from") if inner.get("clean") else None,
                inner.get("from"),
                inner.get("pending_recovery"),
                _last_rollback(last, host),
                report.message(doc) if report.failed(doc) else None,
            )
        )
    return rows


def _last_rollback(run: journal.Run | None, host: str) -> str | None:
    if run is None:
        return None
    info, ended = run.info, run.ended
    outcome = ended["outcome"] if ended else "interrupted"
    mine = run.results("undo").get(host) or run.results("rollback").get(host)
    state = f", here {mine.get('state')}" if mine else ""
    return f"{info.get('ref')}: {outcome}{state} ({info.get('started')})"
