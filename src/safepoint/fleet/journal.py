"""The fleet journal: one folder per fleet run in the controller's own state folder.

``$SAFEPOINT_FLEET_STATE`` or ``$XDG_STATE_HOME/safepoint/fleet`` or
``~/.local/state/safepoint/fleet``; the controller needs no ``safepoint.toml``::

    runs/<UTC time>-<8 hex>/          one fleet run; names sort by time
        run.json                      {"version": 1, "ref", "inventory", "limit", "batches",
                                       "max_fail", "started", "resumes": run name or null,
                                       "carried": {host: checkpoint id},
                                       "carried_databases": {host: "with_db" | "migrate"}}
        <command>-<host>.json         each host's result of each step (preflight, before,
                                      rollback, undo, status), written by the Ansible callback
                                      safepoint.fleet.results the moment the host reports it
        ended.json                    {"outcome", "exit_code", "ended"}: the run is over
        ansible-<playbook>.log        what ansible-playbook printed

Every file is written whole (tmp, fsync, rename). A run without ``ended.json`` was interrupted:
``before-<host>.json`` says where each host was before it changed (the checkpoint its tree
matched, made just then when it matched none), which is what ``fleet undo`` and a resumed
``fleet rollback`` need; on the host that runs the database steps it also says how the database
goes back (``database``). ``carried`` and ``carried_databases`` hold those of an interrupted run
that this one resumes, so that an undo still goes back to where the first run found each host.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safepoint.errors import OperationalError, UsageError
from safepoint.store.atomic import write_atomic

STATE_ENV = "SAFEPOINT_FLEET_STATE"
VERSION = 1


def state_dir() -> Path:
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(xdg) / "safepoint" / "fleet"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OperationalError(f"cannot read the fleet journal file {path}: {exc}") from None


def _write(path: Path, doc: Any) -> None:
    write_atomic(path, (json.dumps(doc, indent=1, default=str) + "\n").encode())


@dataclass(frozen=True)
class Run:
    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def info(self) -> dict[str, Any]:
        doc = _read(self.folder / "run.json")
        if not isinstance(doc, dict):
            raise OperationalError(f"fleet run {self.folder} has no run.json")
        return doc

    @property
    def ended(self) -> dict[str, Any] | None:
        doc = _read(self.folder / "ended.json")
        return doc if isinstance(doc, dict) else None

    def end(self, outcome: str, exit_code: int) -> None:
        _write(
            self.folder / "ended.json",
            {"outcome": outcome, "exit_code": exit_code, "ended": _now()},
        )

    def results(self, command: str) -> dict[str, dict[str, Any]]:
        """Each host's result of ``command`` in this run, by host name."""
        found: dict[str, dict[str, Any]] = {}
        for path in sorted(self.folder.glob(f"{command}-*.json")):
            doc = _read(path)
            if isinstance(doc, dict) and isinstance(doc.get("host"), str):
                found[doc["host"]] = doc
        return found

    def clear(self, command: str) -> None:
        """Forget the results of an earlier step of the same name (a second undo)."""
        for path in self.folder.glob(f"{command}-*.json"):
            path.unlink()

    def befores(self) -> dict[str, str]:
        """Where each host was before this run (or the run it resumed) changed it."""
        return self._befores("carried", "before")

    def databases(self) -> dict[str, str]:
        """How the database goes back on the host that ran the database steps (``with_db``:
        its before checkpoint's snapshot; ``migrate``: the migrations of the code put back)."""
        return self._befores("carried_databases", "database")

    def _befores(self, carried: str, key: str) -> dict[str, str]:
        found = {str(h): str(c) for h, c in (self.info.get(carried) or {}).items()}
        for host, doc in self.results("before").items():
            value = (doc.get("result") or {}).get(key)
            if doc.get("state") in ("ok", "changed") and value and host not in found:
                found[host] = str(value)
        return found


def new_run(info: dict[str, Any]) -> Run:
    runs = state_dir() / "runs"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    folder = runs / f"{stamp}-{secrets.token_hex(4)}"
    try:
        folder.mkdir(parents=True, mode=0o700)
    except OSError as exc:
        raise OperationalError(f"cannot create the fleet journal folder {folder}: {exc}") from None
    _write(folder / "run.json", {"version": VERSION, "started": _now(), **info})
    return Run(folder)


def runs() -> list[Run]:
    """Every run, oldest first."""
    folder = state_dir() / "runs"
    if not folder.is_dir():
        return []
    return [Run(p) for p in sorted(folder.iterdir()) if (p / "run.json").is_file()]


def last_run(inventory: Path | None = None) -> Run | None:
    """The newest run (of ``inventory`` when given)."""
    for run in reversed(runs()):
        if inventory is None or run.info.get("inventory") == str(inventory):
            return run
    return None


def require_last_run(inventory: Path | None) -> Run:
    run = last_run(inventory)
    if run is None:
        where = f" of {inventory}" if inventory else ""
        raise UsageError(f"no fleet run{where} in the fleet journal ({state_dir()})")
    return run
