"""``guard``: watch the health checks and roll back on its own after N consecutive failures.

Each poll runs every check once. After ``failures`` consecutive failed polls the guard rolls
back to the newest known-good checkpoint whose files differ from the current tree (a failure
that a rollback cannot fix, such as a database outage, leaves the files alone), then waits for
a cooldown. It never rolls back twice for the same failure: only a healthy poll re-arms it.
Its state lives in ``<repository>/guard.json`` so that ``guard --once`` from cron counts
failures across runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from safepoint.errors import SafepointError
from safepoint.health import probe
from safepoint.model.entry import IS_ROOT
from safepoint.ops.delta import tree_delta
from safepoint.ops.migrations import MigrationsAheadError
from safepoint.ops.prove import ProofOptions
from safepoint.ops.refs import known_good
from safepoint.ops.rollback import rollback
from safepoint.ops.site import Site
from safepoint.restore.plan import compare
from safepoint.scan.tree import read_tree
from safepoint.store.atomic import write_atomic
from safepoint.store.records import Checkpoint

Log = Callable[[str], None]


@dataclass
class GuardState:
    failures: int = 0  # consecutive failed polls
    armed: bool = True  # False after a rollback until a healthy poll
    last_rollback: float = 0.0  # epoch seconds

    @classmethod
    def load(cls, site: Site) -> GuardState:
        try:
            return cls(**json.loads(_path(site).read_bytes()))
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, site: Site) -> None:
        write_atomic(_path(site), json.dumps(asdict(self)).encode())


def _path(site: Site) -> Path:
    return site.repository.path / "guard.json"


def log_line(write: Callable[[str], None]) -> Log:
    """Prefix each decision with a UTC timestamp, one line each (journald and cron logs)."""

    def log(message: str) -> None:
        write(f"{datetime.now(UTC).isoformat(timespec='seconds')} guard: {message}")

    return log


def guard_poll(
    site: Site,
    *,
    failures_needed: int,
    cooldown: float,
    log: Log,
    now: Callable[[], float] = time.time,
) -> GuardState:
    """One poll cycle; returns the state it saved."""
    state = GuardState.load(site)
    report = probe(site.config.health, root=site.root)
    if report.ok:
        if state.failures or not state.armed:
            log(f"healthy again after {state.failures} failed poll(s); guard re-armed")
        else:
            log("healthy")
        state = GuardState(last_rollback=state.last_rollback)
        state.save(site)
        return state
    state.failures += 1
    log(f"unhealthy ({state.failures}/{failures_needed}): {report.summary()}")
    if state.failures >= failures_needed:
        _maybe_roll_back(site, state, cooldown=cooldown, log=log, now=now())
    state.save(site)
    return state


def _maybe_roll_back(
    site: Site, state: GuardState, *, cooldown: float, log: Log, now: float
) -> None:
    if not state.armed:
        log("already rolled back for this failure; not rolling back again")
        return
    if now - state.last_rollback < cooldown:
        log(f"in cooldown ({cooldown - (now - state.last_rollback):.0f}s left); not rolling back")
        return
    target = rollback_target(site)
    if target is None:
        log(
            "no known-good checkpoint differs from the current files; a rollback cannot fix "
            "this failure, not rolling back"
        )
        state.armed = False
        return
    log(
        f"rolling back to known-good checkpoint {target.short_id}"
        f"{f' ({target.label})' if target.label else ''}"
    )
    switched = False

    def on_switch() -> None:
        nonlocal switched
        switched = True

    try:
        result = rollback(site, target.id, proof_options=_logged_proof(log), on_switch=on_switch)
    except MigrationsAheadError as exc:
        # Rolling the code back alone would leave the database ahead of it: not unattended.
        log(f"cannot roll back safely, not rolling back: {exc}")
        _ran(state, now)
        return
    except SafepointError as exc:
        if not switched:
            # It did not happen (the repository locked by another process, a file it could
            # not stage...): the site is as it was, so try again at the next poll.
            log(f"could not roll back, will try again at the next poll: {exc}")
            return
        _ran(state, now)
        log(f"rollback failed: {exc}")
        return
    _ran(state, now)
    if result.undone:
        log(f"rollback undone: {result.undo_summary()}")
        return
    assert result.proof is not None
    log(
        f"rolled back to {target.short_id} in {result.seconds:.1f}s: "
        f"{len(result.plan.write) + len(result.plan.link)} written, "
        f"{len(result.plan.remove)} removed; {result.proof.summary()}"
    )


def _logged_proof(log: Log) -> ProofOptions:
    """The rollback's reload steps and health attempts in the guard's log, one line each."""
    return ProofOptions(
        on_attempt=lambda attempt: log(f"health: {attempt.describe()}"),
        on_step=lambda text: log(f"app: {text}"),
    )


def _ran(state: GuardState, now: float) -> None:
    """A rollback ran (done, undone or failed half-way): never again for this failure."""
    state.armed = False
    state.last_rollback = now


def rollback_target(site: Site) -> Checkpoint | None:
    """The newest known-good checkpoint (never one marked bad) whose tracked files differ from
    the current tree."""
    tree = read_tree(site.root, site.rules, site.repository.cache_path)
    for cp in known_good(site.repository.checkpoints()):
        delta = tree_delta(site, tree, cp)
        if not compare(delta.current, delta.target, owner=IS_ROOT).empty:
            return cp
    return None


def guard_loop(
    site: Site,
    *,
    interval: float,
    failures_needed: int,
    cooldown: float,
    log: Log,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    log(
        f"watching {site.root} every {interval:g}s; rolls back after {failures_needed} "
        f"consecutive failures, then waits {cooldown:g}s"
    )
    while True:
        try:
            guard_poll(site, failures_needed=failures_needed, cooldown=cooldown, log=log)
        except SafepointError as exc:
            log(f"poll failed: {exc}")
        sleep(interval)
