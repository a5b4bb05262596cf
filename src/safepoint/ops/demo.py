"""``safepoint demo``: the whole loop on a throwaway site, in a few seconds.

Build a small site (ops/demo_site.py: a WSGI app served by ``wsgiref`` on a free port of
127.0.0.1, ``[app]`` and a ``[[health.http]]`` check), ``init`` it, checkpoint it and prove it
healthy (known-good), break it (the app answers 500), reload it and show the health checks
failing, roll back to the known-good checkpoint and prove it healthy again. Every step goes
through the same operations the commands use. Whatever happens (a failure, Ctrl-C), the server
is stopped and the temporary folder removed (a folder the caller named is kept, its server
stopped all the same).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from safepoint.errors import OperationalError, UsageError
from safepoint.ops import demo_site
from safepoint.ops.create import create_checkpoint
from safepoint.ops.init import init_site
from safepoint.ops.prove import prove
from safepoint.ops.rollback import rollback
from safepoint.ops.site import open_site

Say = Callable[[str], None]


@dataclass
class DemoResult:
    root: Path
    kept: bool  # the folder was named by the caller and is left in place
    port: int = 0
    steps: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, text)
    seconds: float = 0.0


def run_demo(folder: Path | None = None, *, say: Say | None = None) -> DemoResult:
    """Run the demo in ``folder`` (empty or absent; kept afterwards) or a temporary folder
    (removed afterwards). ``say`` gets each step's line as it happens."""
    if folder is not None and folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"{folder} is not an empty folder; name a new or empty one")
    base = folder.absolute() if folder is not None else Path(tempfile.mkdtemp(prefix="sp-demo-"))
    result = DemoResult(base, kept=folder is not None)
    started = time.monotonic()

    def step(text: str) -> None:
        at = time.monotonic() - started
        result.steps.append((at, text))
        if say is not None:
            say(f"{at:6.2f}s  {text}")

    try:
        _steps(result, step)
    finally:
        demo_site.stop_server(base)
        if not result.kept:
            shutil.rmtree(base, ignore_errors=True)
        result.seconds = time.monotonic() - started
    return result


def _steps(result: DemoResult, step: Say) -> None:
    root = result.root
    result.port = demo_site.build_site(root)
    url = f"http://127.0.0.1:{result.port}/"
    step(f"built a site in {root}: app.py, a WSGI app, and safepoint.toml ([app], a health check)")
    demo_site.start_server(root)
    step(f"started its server (wsgiref, in a process of its own): {url} -> {_get(url)}")
    init_site(root)
    step("safepoint init: repository in .safepoint/")
    with open_site(root) as site:
        made = create_checkpoint(site, label="working", verify_health=True, reload=True)
        cp = made.checkpoint
        if cp.marks.health != "good":
            why = made.proof_error or (made.health.summary() if made.health else "not checked")
            raise OperationalError(f"the demo site is not healthy: {why}")
        step(
            f"safepoint create --label working --verify-health --reload: checkpoint "
            f"{cp.short_id}, {cp.files} files, known-good"
        )
        demo_site.break_site(root)
        step(f"broke the app: app.py now answers 500 -> before a reload {_get(url)}")
        proof = prove(site)
        if proof.ok:
            raise OperationalError("the broken demo site passed its health checks")
        step(f"reloaded the app: health checks FAIL: {proof.summary()} ({_get(url)})")
        done = rollback(site, None)
        if done.undone or done.proof is None or not done.proof.ok:
            raise OperationalError(f"the demo's rollback did not prove healthy: {done.summary()}")
        step(
            f"safepoint rollback: back to {done.target.display_name} "
            f"({len(done.plan.write)} file written), reloaded, {done.proof.summary()} "
            f"-> {_get(url)}"
        )
    step("next: in your site, 'safepoint init', then 'safepoint run -- YOUR-DEPLOY-COMMAND'")


def _get(url: str) -> str:
    """``HTTP 200`` or ``HTTP 500``: what a browser would get now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except OSError as exc:
        with suppress(AttributeError):
            return f"no answer ({exc.reason})"  # type: ignore[attr-defined]
        return f"no answer ({exc})"
