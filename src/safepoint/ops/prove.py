"""Proving the site healthy after its files changed: run the ``after_restore`` hooks (so the app
picks the files up), then the health checks. A failing hook counts as unhealthy: a site whose
restart failed is not proven to serve anything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from safepoint.ops.site import Site
from safepoint.store.records import BAD, GOOD, Checkpoint

if TYPE_CHECKING:
    from safepoint.health.checks import HealthReport
    from safepoint.health.hooks import HookResult


@dataclass(frozen=True)
class Proof:
    hooks: list[HookResult] = field(default_factory=list)
    hook_error: str | None = None
    health: HealthReport | None = None  # None when the checks were skipped

    @property
    def ok(self) -> bool:
        return self.hook_error is None and (self.health is None or self.health.ok)

    @property
    def proven(self) -> bool:
        """Checks ran, and passed: what makes a checkpoint known-good."""
        return self.ok and self.health is not None and self.health.configured

    def summary(self) -> str:
        if self.hook_error:
            return self.hook_error
        if self.health is None:
            return "health checks skipped"
        return self.health.summary()

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "hooks": [
                {"command": h.command, "returncode": h.returncode, "seconds": round(h.duration, 3)}
                for h in self.hooks
            ],
            "hook_error": self.hook_error,
            "health": self.health.to_json() if self.health else None,
        }


def prove(
    site: Site,
    *,
    run_health: bool = True,
    run_hook: bool = True,
    hook_output: Callable[[str], None] | None = None,
) -> Proof:
    hooks: list[HookResult] = []
    if run_hook and site.config.after_restore:
        # Subprocess machinery, imported only for a site that has hooks.
        from safepoint.health.hooks import HookError, run_hooks

        try:
            hooks = run_hooks(site.config.after_restore, root=site.root, output=hook_output)
        except HookError as exc:
            return Proof(exc.results, str(exc))
    if not run_health:
        return Proof(hooks)
    from safepoint.health.checks import run_checks  # the HTTP client: only when checking

    return Proof(hooks, health=run_checks(site.config.health, root=site.root))


def mark_health(site: Site, cp: Checkpoint, proof: Proof, *, how: str) -> Checkpoint:
    """Record what the proof showed, and ``how`` it was earned (records.BY_*): known-good when
    the checks ran and passed; bad when they or a hook failed (the reason is the failure's
    summary); nothing when nothing was checked."""
    if proof.ok and not proof.proven:
        return cp
    if proof.ok:
        marks = cp.marks.with_health(GOOD, by=how)
    else:
        marks = cp.marks.with_health(BAD, by=how, reason=proof.summary())
    return site.repository.set_marks(cp, marks)
