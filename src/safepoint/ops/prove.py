"""Proving the site healthy after its files changed: reload the app of ``[app]`` and wait until
it runs the new code, run the ``after_restore`` hooks, then the health checks over their settle
window. A failed reload or hook counts as unhealthy: a site whose restart failed is not proven
to serve anything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from safepoint.errors import ConfigError, UsageError
from safepoint.ops.site import Site
from safepoint.store.records import BAD, GOOD, Checkpoint

if TYPE_CHECKING:
    from safepoint.health.app import Reloaded
    from safepoint.health.checks import AttemptCallback, HealthReport
    from safepoint.health.hooks import HookResult


@dataclass(frozen=True)
class ProofOptions:
    """How a proof reports its progress, and its deadline (default: ``[health] deadline``)."""

    deadline: float | None = None
    on_attempt: AttemptCallback | None = None
    on_step: Callable[[str], None] | None = None
    """One line per step of the reload (starting gunicorn, reloaded in 1.6s)."""


@dataclass(frozen=True)
class Proof:
    hooks: list[HookResult] = field(default_factory=list)
    hook_error: str | None = None
    health: HealthReport | None = None  # None when the checks were skipped
    reload: Reloaded | None = None  # None when [app] is not configured or was not reloaded
    reload_error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.reload_error is None
            and self.hook_error is None
            and (self.health is None or self.health.ok)
        )

    @property
    def proven(self) -> bool:
        """Checks ran, and passed: what makes a checkpoint known-good."""
        return self.ok and self.health is not None and self.health.configured

    def summary(self) -> str:
        if self.reload_error:
            return self.reload_error
        if self.hook_error:
            return self.hook_error
        if self.health is None:
            return "health checks skipped"
        return self.health.summary()

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reload": None
            if self.reload is None
            else {
                "how": self.reload.how,
                "master": self.reload.master,
                "workers": list(self.reload.workers),
                "seconds": round(self.reload.seconds, 3),
            },
            "reload_error": self.reload_error,
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
    run_reload: bool | None = None,
    hook_output: Callable[[str], None] | None = None,
    options: ProofOptions | None = None,
) -> Proof:
    """Reload the app (``run_reload``, default: as ``run_hook``), run the hooks, then the
    checks. A step that fails ends the proof there."""
    opts = options or ProofOptions()
    reloaded: Reloaded | None = None
    if site.config.app is not None and (run_hook if run_reload is None else run_reload):
        from safepoint.health.app import AppError, reload_app  # /proc and signals: only here

        try:
            reloaded = reload_app(site.config.app, root=site.root, log=opts.on_step)
        except AppError as exc:
            return Proof(reload_error=f"app reload failed: {exc}")
        if opts.on_step:
            opts.on_step(reloaded.describe())
    hooks: list[HookResult] = []
    if run_hook and site.config.after_restore:
        # Subprocess machinery, imported only for a site that has hooks.
        from safepoint.health.hooks import HookError, run_hooks

        try:
            hooks = run_hooks(site.config.after_restore, root=site.root, output=hook_output)
        except HookError as exc:
            return Proof(exc.results, str(exc), reload=reloaded)
    if not run_health:
        return Proof(hooks, reload=reloaded)
    from safepoint.health.checks import run_checks  # the HTTP client: only when checking

    health = site.config.health
    if opts.deadline is not None:
        health = replace(health, deadline=opts.deadline)
    report = run_checks(
        health,
        root=site.root,
        on_attempt=opts.on_attempt,
        abort=reloaded.alive if reloaded is not None else None,
    )
    return Proof(hooks, health=report, reload=reloaded)


def check_proof_setup(site: Site, options: ProofOptions | None = None) -> None:
    """Refuse, before anything changes, a proof that cannot succeed: a ``--deadline`` no longer
    than the settle window, or an ``[app]`` whose pid file names something that is not a
    gunicorn master, or that is down with no ``start`` to bring it up (exit 2)."""
    check_deadline(site, options.deadline if options else None)
    if site.config.app is not None:
        from safepoint.health.app import app_problem

        problem = app_problem(site.config.app, site.root)
        if problem:
            raise ConfigError(problem)


def check_deadline(site: Site, deadline: float | None) -> None:
    """A ``--deadline`` must leave room for the settle window (exit 2)."""
    if deadline is not None:
        from safepoint.config import settle_problem

        problem = settle_problem(site.config.health.settle, deadline)
        if problem:
            raise UsageError(f"--deadline: {problem}")


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
