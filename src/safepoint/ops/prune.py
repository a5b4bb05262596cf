"""``prune``: forget the checkpoints a retention policy (ops/retention.py) does not keep.

A prune forgets (ops/forget.py): the records move to ``forgotten/`` and can be undeleted until
the next ``gc``, which is what gives the space back. Refused before anything moves: a prune
with no policy at all, and a policy that would leave no checkpoint other than safety ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from safepoint.config import RetentionConfig
from safepoint.errors import UsageError
from safepoint.ops.forget import protected
from safepoint.ops.retention import Policy, Verdict, apply_policy, parse_duration
from safepoint.ops.site import Site
from safepoint.store.records import SAFETY, now


@dataclass(frozen=True)
class PruneResult:
    verdicts: list[Verdict]  # newest first
    policy: Policy
    dry_run: bool

    @property
    def kept(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.keep]

    @property
    def forgotten(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.keep]


def policy_from(config: RetentionConfig) -> Policy:
    """The policy ``[retention]`` (or the command line, in the same shape) states."""
    return Policy(
        last=config.keep_last,
        hourly=config.keep_hourly,
        daily=config.keep_daily,
        weekly=config.keep_weekly,
        monthly=config.keep_monthly,
        yearly=config.keep_yearly,
        within=parse_duration(config.keep_within) if config.keep_within else None,
        labels=config.keep_label,
        safety_within=parse_duration(config.keep_safety_within),
    )


def prune(site: Site, policy: Policy | None = None, *, dry_run: bool = False) -> PruneResult:
    """Apply ``policy`` (default: the site's ``[retention]``); takes the repository lock."""
    with site.repository.lock():
        return prune_locked(site, policy, dry_run=dry_run)


def prune_locked(site: Site, policy: Policy | None = None, *, dry_run: bool = False) -> PruneResult:
    """``prune`` for a caller that holds the lock (``create`` with ``[retention] auto``)."""
    if policy is None:
        policy = policy_from(site.config.retention)
    if policy.empty:
        raise UsageError(
            "prune needs a policy: give --keep-last, --keep-daily, ... or --keep-within, or "
            "set them in [retention] of safepoint.toml"
        )
    repo = site.repository
    listed = repo.checkpoints()
    verdicts = apply_policy(listed, policy, protected=protected(repo, listed), now=now())
    ordinary = [v for v in verdicts if v.checkpoint.kind != SAFETY]
    if ordinary and not any(v.keep for v in ordinary):
        raise UsageError(
            f"the policy ({policy.describe()}) would forget every checkpoint; nothing was forgotten"
        )
    if not dry_run:
        for v in verdicts:
            if not v.keep:
                repo.forget(v.checkpoint)
    return PruneResult(verdicts, policy, dry_run)


def auto_prune(site: Site) -> PruneResult | None:
    """After a ``create`` (the caller holds the lock): the ``[retention]`` policy when it says
    ``auto = true``; None otherwise."""
    if not site.config.retention.auto:
        return None
    return prune_locked(site)


def prune_after_rollback(site: Site, warn: Callable[[str], None]) -> None:
    """``auto_prune`` after a rollback (its safety checkpoint is one more checkpoint), the
    caller holding the lock; what it forgot is told through ``warn``."""
    pruned = auto_prune(site)
    if pruned is not None and pruned.forgotten:
        warn(
            f"[retention] forgot {len(pruned.forgotten)} checkpoint(s) (safepoint list "
            "--forgotten); run 'safepoint gc' to free the space"
        )
