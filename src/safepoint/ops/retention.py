"""Retention policies: which checkpoints a ``prune`` keeps, and why. A pure function of the
records, their marks, the ids that must stay whatever the policy says, and the time.

restic's policy language (``restic forget --keep-*``), with the Deployer/Capistrano lesson
added: a run of failed deploys must never push the last good checkpoint out.

- ``keep_last N``: the N newest counted checkpoints.
- ``keep_hourly/daily/weekly/monthly/yearly N``: going from the newest counted checkpoint to the
  oldest, the first one met in each hour (day, ISO week, month, year), for the N newest such
  periods that hold one; times are read in local time, as ``list`` shows them. As restic does,
  when a rule still has periods left after the oldest counted checkpoint, that oldest one is
  kept too ("oldest daily"), so a short history is kept whole rather than cut.
- ``keep_within DURATION``: every counted or bad checkpoint made less than DURATION before the
  newest checkpoint that is not a safety checkpoint (restic measures from the newest snapshot,
  not from now, so a repository left alone for a month is not emptied by its next prune).
- ``keep_label LABEL``: every checkpoint with that label (not safety checkpoints).
- ``keep_safety_within DURATION`` (default 7 days): safety checkpoints made less than DURATION
  before now. Safety checkpoints follow only this rule.

Counted are the checkpoints that are neither safety checkpoints nor marked bad; the quotas
(``keep_last`` to ``keep_yearly``) walk those only. A bad checkpoint is kept only by
``keep_within`` or ``keep_label``; otherwise it goes. Always kept, whatever the policy:
the ``protected`` ids (pinned, the newest known-good, the checkpoint ``head.json`` names, a
pending rollback journal's target and safety checkpoint), with their reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from safepoint.config import DEFAULT_SAFETY_WITHIN
from safepoint.durations import Duration, parse_duration
from safepoint.store.records import BAD, SAFETY, Checkpoint


@dataclass(frozen=True)
class Policy:
    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Duration | None = None
    labels: tuple[str, ...] = ()
    safety_within: Duration = field(default_factory=lambda: parse_duration(DEFAULT_SAFETY_WITHIN))

    @property
    def empty(self) -> bool:
        """No rule for the counted checkpoints: a prune would keep only the protected ones."""
        quotas = (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly)
        return not any(quotas) and self.within is None and not self.labels

    def describe(self) -> str:
        parts = [f"--keep-{name} {n}" for name, n in self._quotas() if n]
        if self.within is not None:
            parts.append(f"--keep-within {self.within.text}")
        parts += [f"--keep-label {label}" for label in self.labels]
        parts.append(f"--keep-safety-within {self.safety_within.text}")
        return " ".join(parts)

    def _quotas(self) -> list[tuple[str, int]]:
        return [
            ("last", self.last),
            ("hourly", self.hourly),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
            ("yearly", self.yearly),
        ]


def _period(kind: str) -> Callable[[datetime, int], object]:
    """The bucket a checkpoint falls in for a quota; ``last`` gives each its own."""
    return {
        "last": lambda _t, nr: nr,
        "hourly": lambda t, _nr: (t.year, t.month, t.day, t.hour),
        "daily": lambda t, _nr: (t.year, t.month, t.day),
        "weekly": lambda t, _nr: t.isocalendar()[:2],
        "monthly": lambda t, _nr: (t.year, t.month),
        "yearly": lambda t, _nr: t.year,
    }[kind]


@dataclass(frozen=True)
class Verdict:
    checkpoint: Checkpoint
    keep: bool
    reasons: tuple[str, ...]  # why it is kept; empty when it goes


def apply_policy(
    checkpoints: Sequence[Checkpoint],
    policy: Policy,
    *,
    protected: Mapping[str, str],
    now: datetime,
    tz: tzinfo | None = None,
) -> list[Verdict]:
    """One verdict per checkpoint, newest first. ``protected``: id -> why it must stay (kept
    whatever the policy says). ``tz``: the zone the hourly to yearly periods are read in
    (default: this machine's)."""
    ordered = sorted(checkpoints, key=lambda c: c.created_at, reverse=True)
    reasons: dict[str, list[str]] = {cp.id: [] for cp in ordered}
    for cp in ordered:
        if cp.id in protected:
            reasons[cp.id].append(protected[cp.id])

    counted = [c for c in ordered if c.kind != SAFETY and c.marks.health != BAD]
    for name, quota in policy._quotas():
        if not quota:
            continue
        bucket = _period(name)
        left, last = quota, object()
        for nr, cp in enumerate(counted):
            value = bucket(cp.created_at.astimezone(tz), nr)
            oldest = nr == len(counted) - 1
            if left and (value != last or oldest):
                reasons[cp.id].append(name if value != last else f"oldest {name}")
                last, left = value, left - 1

    newest = next((c for c in ordered if c.kind != SAFETY), None)
    if policy.within is not None and newest is not None:
        since = policy.within.before(newest.created_at)
        for cp in ordered:
            if cp.kind != SAFETY and cp.created_at > since:
                reasons[cp.id].append(f"within {policy.within.text}")
    for label in policy.labels:
        for cp in ordered:
            if cp.kind != SAFETY and cp.label == label:
                reasons[cp.id].append(f"label {label}")
    safety_since = policy.safety_within.before(now)
    for cp in ordered:
        if cp.kind == SAFETY and cp.created_at > safety_since:
            reasons[cp.id].append(f"safety within {policy.safety_within.text}")
    return [Verdict(cp, bool(reasons[cp.id]), tuple(reasons[cp.id])) for cp in ordered]
