"""Progress of a health proof (reload, attempts, settle window) as a person watches it: on a
terminal, one live line per check (attempt n of N, elapsed) that disappears when the proof
ends; otherwise one plain line per attempt and per reload step on stderr, so a log shows why a
proof took the time it took."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from safepoint.cli.output import Output
from safepoint.health.checks import Attempt
from safepoint.ops.prove import ProofOptions


@contextlib.contextmanager
def proof_progress(out: Output, *, deadline: float | None = None) -> Iterator[ProofOptions]:
    """ProofOptions whose callbacks show progress on ``out``'s stderr while the block runs."""
    env = out.env
    if not env.stderr_isatty:

        def line(text: str) -> None:
            env.stderr.write(f"safepoint: {text}\n")
            env.stderr.flush()

        yield ProofOptions(
            deadline=deadline,
            on_attempt=lambda a: line(f"health: {a.describe()}"),
            on_step=lambda text: line(f"app: {text}"),
        )
        return
    view = _LiveView(env.stderr)
    try:
        yield ProofOptions(deadline=deadline, on_attempt=view.attempt, on_step=view.step)
    finally:
        view.stop()


class _LiveView:
    """A rich Live display, started at the first event (a proof without [app] or checks
    shows nothing)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._lines: dict[str, str] = {}
        self._live: Any = None

    def step(self, text: str) -> None:
        from rich.markup import escape

        self._show("app", f"app: {escape(text)}")

    def attempt(self, attempt: Attempt) -> None:
        from rich.markup import escape

        r = attempt.result
        if attempt.settling is None:
            state = f"attempt {r.attempts} of {attempt.of}"
        else:
            state = f"settling {attempt.settling:.1f}s"
        mark = "[green]ok[/]" if r.ok else "[red]FAIL[/]"
        self._show(
            r.name,
            f"{mark} {escape(r.name)}  {state}, {attempt.elapsed:.1f}s elapsed  "
            f"({escape(r.detail)})",
        )

    def _show(self, key: str, text: str) -> None:
        from rich.console import Console, Group
        from rich.live import Live
        from rich.text import Text

        with self._lock:
            self._lines[key] = text
            group = Group(*(Text.from_markup(line) for line in self._lines.values()))
            if self._live is None:
                self._live = Live(
                    group, console=Console(file=self._stream), transient=True, auto_refresh=False
                )
                self._live.start()
            self._live.update(group, refresh=True)

    def stop(self) -> None:
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None
