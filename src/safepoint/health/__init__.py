"""Health checks and ``after_restore`` hooks: proving the site serves, making it pick up files.

This package owns running things, not changing them: it reads no repository and writes no file
of the site, so an interruption at any moment leaves nothing behind to recover. (A check or hook
command may of course change whatever it likes; each runs in its own process group, killed
whole when it overruns its timeout.)

- :mod:`.app` reloads (or starts) the app of ``[app]`` and waits until it runs the new code;
  :mod:`.gunicorn` reads what it needs about a gunicorn master from ``/proc``.
- :mod:`.checks` runs the configured HTTP and command checks with their retries and settle
  window.
- :mod:`.hooks` runs the ``after_restore`` commands in order and stops at the first failure.
- :mod:`.process` runs one shell command with a deadline; both of the above use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from safepoint.lazy import lazy_exports

# Imported on first use: the checks pull in the HTTP client, which a rollback that only runs
# hooks (or none) should not pay for.
_EXPORTS = {
    "AppError": "safepoint.health.app",
    "Reloaded": "safepoint.health.app",
    "reload_app": "safepoint.health.app",
    "Attempt": "safepoint.health.checks",
    "CheckResult": "safepoint.health.checks",
    "HealthReport": "safepoint.health.checks",
    "check_command": "safepoint.health.checks",
    "check_http": "safepoint.health.checks",
    "probe": "safepoint.health.checks",
    "run_checks": "safepoint.health.checks",
    "HookError": "safepoint.health.hooks",
    "HookResult": "safepoint.health.hooks",
    "run_hooks": "safepoint.health.hooks",
}

if TYPE_CHECKING:
    from safepoint.health.app import AppError, Reloaded, reload_app
    from safepoint.health.checks import (
        Attempt,
        CheckResult,
        HealthReport,
        check_command,
        check_http,
        probe,
        run_checks,
    )
    from safepoint.health.hooks import HookError, HookResult, run_hooks

__all__ = [
    "AppError",
    "Attempt",
    "CheckResult",
    "HealthReport",
    "HookError",
    "HookResult",
    "Reloaded",
    "check_command",
    "check_http",
    "probe",
    "reload_app",
    "run_checks",
    "run_hooks",
]


__getattr__ = lazy_exports("safepoint.health", globals(), _EXPORTS)
