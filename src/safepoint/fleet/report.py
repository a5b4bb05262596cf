"""What a fleet run did on each host, read from the results in its journal folder."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from safepoint.errors import ExitStatus

ROLLED_BACK = "rolled back"
REFUSED = "refused"
PUT_BACK = "stopped and every host put back"
UNDO_FAILED = "stopped and the undo failed"
UNDONE = "undone"
NOTHING = "nothing to do"


def result_of(doc: dict[str, Any] | None) -> dict[str, Any]:
    """The safepoint document inside a host's module result (empty when there is none)."""
    inner = (doc or {}).get("result")
    return inner if isinstance(inner, dict) else {}


def failed(doc: dict[str, Any] | None) -> bool:
    return doc is None or doc.get("state") in ("failed", "unreachable")


def message(doc: dict[str, Any] | None) -> str:
    if doc is None:
        return "no result (not reached)"
    msg = str(doc.get("msg") or doc.get("state") or "failed")
    return msg.removeprefix("safepoint: ")


def health(summary: dict[str, Any]) -> str | None:
    """One word for a rollback's proof (``health`` of ``RollbackResult.summary()``)."""
    proof = summary.get("health")
    if not isinstance(proof, dict):
        return None
    if summary.get("undone"):
        undo = summary.get("undo_health") or {}
        return "failed, undone" + ("" if undo.get("ok") else ", still failing")
    checks = proof.get("health") or {}
    if proof.get("ok"):
        return "healthy" if checks.get("configured") else "no checks"
    return "failed"


@dataclass
class HostReport:
    host: str
    state: str
    before: str | None = None
    after: str | None = None
    safety: str | None = None
    health: str | None = None
    seconds: float | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FleetResult:
    outcome: str
    exit_code: int
    run: str
    ref: str | None = None
    target: str | None = None
    hosts: list[HostReport] = field(default_factory=list)
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "ref": self.ref,
            "target": self.target,
            "run": self.run,
            "message": self.message,
            "hosts": [h.to_json() for h in self.hosts],
        }

    @property
    def ok(self) -> bool:
        return self.exit_code == ExitStatus.OK
