"""A guarded change: checkpoint, change, reload, prove, and roll back if it went wrong.

The one rule, shared by ``safepoint run -- CMD`` and the ``safepoint.change()`` block:

1. refuse what cannot be proven before anything happens (no health checks, a bad ``[app]``,
   a ``--deadline`` shorter than the settle window, a bad label);
2. checkpoint the site (kind ``manual``, label L, or ``before: CMD``);
3. the change runs (the command, in the root, in its own process group; or the block);
4. when it failed (the command exited non-zero, the block raised, Ctrl-C), roll back to that
   checkpoint at once, without proving the broken state;
5. otherwise reload the app of ``[app]``, run the ``after_restore`` hooks (they say what a
   site needs after its files change: migrations, cache clears) and prove health over the
   settle window; when that fails, roll back;
6. a rollback is ``ops.rollback.rollback`` to the checkpoint of step 2: it proves health again
   and undoes itself if that fails (then the change failed *and* the rollback failed). With
   ``with_db`` the checkpoint of step 2 holds a snapshot of the database and the rollback
   brings it back; without it, Django migrations the change applied are reversed with the
   changed code first (``--migrate``: a change that ran ``manage.py migrate`` is undone
   whole, and an irreversible migration stops the rollback before any file changes);
7. all well: checkpoint the new state (label ``after: L``) and mark it known-good (by ``run``).

The result says which of these happened (``ChangeResult.outcome``) and the exit code the
command line gives it: 0, 5 (failed, rolled back), 6 (failed, and the rollback failed too),
130 (interrupted, rolled back). Nothing is raised for a failed change: a program reads
``result``; an exception inside the block is re-raised after the rollback.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from safepoint.config import CONFIG_NAME
from safepoint.errors import ExitStatus, SafepointError, UsageError
from safepoint.ops.create import create_checkpoint
from safepoint.ops.labels import MAX_LABEL, check_label
from safepoint.ops.migrations import MigrationOptions
from safepoint.ops.prove import Proof, ProofOptions, check_proof_setup, mark_health, prove
from safepoint.ops.rollback import RollbackResult, rollback
from safepoint.ops.site import Site
from safepoint.store.records import BY_RUN, Checkpoint

if TYPE_CHECKING:
    from safepoint.health.process import Completed

Output = Callable[[str], None]

# Outcomes (``ChangeResult.outcome``).
OK = "ok"
ROLLED_BACK = "rolled back"
ROLLBACK_FAILED = "rollback failed"
NOT_ROLLED_BACK = "failed, not rolled back"  # --no-rollback

_SHOWN = 60  # characters of a command kept in a default label
_SPACES = re.compile(r"\s+")


@dataclass
class ChangeResult:
    before: Checkpoint
    error: str | None = None
    """Why the change failed (None: it did not)."""
    command: Completed | None = None  # ``run``: how the command ended
    proof: Proof | None = None  # reload, hooks, health after the change (None when not proven)
    rollback: RollbackResult | None = None
    rollback_error: str | None = None  # the rollback raised (nothing was proven after it)
    after: Checkpoint | None = None  # the new state, marked known-good
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def outcome(self) -> str:
        if self.error is None:
            return OK
        if self.rollback_error is not None or (self.rollback is not None and self.rollback.undone):
            return ROLLBACK_FAILED
        return ROLLED_BACK if self.rollback is not None else NOT_ROLLED_BACK

    @property
    def exit_code(self) -> int:
        outcome = self.outcome
        if outcome == ROLLBACK_FAILED:
            return ExitStatus.CHANGE_ROLLBACK_FAILED
        if self.interrupted:
            return 130
        if outcome == ROLLED_BACK:
            return ExitStatus.CHANGE_ROLLED_BACK
        if outcome == NOT_ROLLED_BACK:
            return ExitStatus.UNHEALTHY if self.proof is not None else ExitStatus.ERROR
        return ExitStatus.OK

    def summary(self) -> str:
        """One line: what happened, and where the site is now."""
        before = self.before.display_name
        outcome = self.outcome
        if outcome == OK:
            after = self.after.display_name if self.after else "?"
            return f"the change is proven healthy; checkpoint {after} marked known-good"
        if outcome == ROLLED_BACK:
            assert self.rollback is not None and self.rollback.proof is not None
            return (
                f"the change failed ({self.error}) and was rolled back to checkpoint {before}: "
                f"{self.rollback.proof.summary()}"
            )
        if outcome == NOT_ROLLED_BACK:
            return f"the change failed ({self.error}); not rolled back (--no-rollback)"
        if self.rollback_error is not None:
            why = self.rollback_error
        else:
            assert self.rollback is not None
            why = self.rollback.undo_summary()
        return (
            f"the change failed ({self.error}) and the rollback to checkpoint {before} failed "
            f"too: {why}"
        )

    def to_json(self) -> dict[str, Any]:
        cmd = self.command
        return {
            "outcome": self.outcome,
            "exit_code": int(self.exit_code),
            "error": self.error,
            "interrupted": self.interrupted,
            "before": self.before.id,
            "after": self.after.id if self.after else None,
            "command": None
            if cmd is None
            else {
                "command": cmd.command,
                "returncode": cmd.returncode,
                "seconds": round(cmd.duration, 3),
            },
            "health": self.proof.to_json() if self.proof else None,
            "rollback": self.rollback.summary() if self.rollback else None,
            "rollback_error": self.rollback_error,
            "seconds": round(self.seconds, 3),
            "summary": self.summary(),
        }


@dataclass
class Change:
    """A change under way: the checkpoint taken before it; ``result`` once it has ended."""

    before: Checkpoint
    after_label: str
    started: float
    with_db: bool = False  # the checkpoint before holds the database; a rollback restores it
    result: ChangeResult | None = None


def change_labels(label: str | None, what: str) -> tuple[str, str]:
    """The labels of the checkpoints before and after: ``label`` and ``after: label``, or
    ``before: WHAT`` and ``after: WHAT`` (WHAT on one line, cut to a readable length)."""
    if label is not None:
        check_label(label)
        return label, _fit(f"after: {label}")
    shown = _SPACES.sub(" ", "".join(c if c.isprintable() else " " for c in what)).strip()
    if len(shown) > _SHOWN:
        shown = shown[: _SHOWN - 1] + "…"
    shown = shown or "change"
    return f"before: {shown}", f"after: {shown}"


def _fit(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def begin_change(
    site: Site,
    *,
    label: str | None,
    what: str,
    note: str | None = None,
    options: ProofOptions | None = None,
    with_db: bool = False,
) -> Change:
    """Refuse a change that could not be proven, then take the checkpoint before it (with a
    snapshot of the database when ``with_db``)."""
    before_label, after_label = change_labels(label, what)
    if not site.config.health.configured:
        raise UsageError(
            "a guarded change needs health checks to prove it: add [[health.http]] or "
            f"[[health.command]] to {site.root / CONFIG_NAME}"
        )
    check_proof_setup(site, options)
    started = time.monotonic()
    before = create_checkpoint(site, label=before_label, note=note, with_db=with_db).checkpoint
    return Change(before, after_label, started, with_db=with_db)


def finish_change(
    site: Site,
    change: Change,
    *,
    failure: str | None = None,
    interrupted: bool = False,
    command: Completed | None = None,
    roll_back: bool = True,
    options: ProofOptions | None = None,
    hook_output: Output | None = None,
) -> ChangeResult:
    """After the change: prove it (unless it already ``failure``), then keep it as known-good
    or roll it back (see the module docstring). Sets and returns ``change.result``."""
    result = ChangeResult(change.before, failure, command, interrupted=interrupted)
    change.result = result
    if failure is None:
        try:
            result.proof = prove(site, hook_output=hook_output, options=options)
        except KeyboardInterrupt:
            result.error, result.interrupted = "interrupted while proving health", True
        else:
            if not result.proof.ok:
                result.error = f"after the change: {result.proof.summary()}"
    if result.error is None:
        assert result.proof is not None
        after = create_checkpoint(site, label=change.after_label).checkpoint
        result.after = mark_health(site, after, result.proof, how=BY_RUN)
    elif roll_back:
        _roll_back(site, result, change, options=options, hook_output=hook_output)
    result.seconds = time.monotonic() - change.started
    return result


def _roll_back(
    site: Site,
    result: ChangeResult,
    change: Change,
    *,
    options: ProofOptions | None,
    hook_output: Output | None,
) -> None:
    try:
        result.rollback = rollback(
            site,
            result.before.id,
            hook_output=hook_output,
            proof_options=options,
            with_db=change.with_db,
            migrations=None if change.with_db else MigrationOptions(migrate=True),
        )
    except SafepointError as exc:
        result.rollback_error = str(exc)
        return
    safety = result.rollback.safety
    if safety is not None and result.proof is not None and not result.proof.ok:
        # The tree the change left was proven unhealthy: say so on its safety checkpoint.
        # Advisory: a lock taken meanwhile by another command must not hide the outcome.
        with suppress(SafepointError), site.repository.lock():
            mark_health(site, safety, result.proof, how=BY_RUN)


def run_change(
    site: Site,
    command: list[str],
    *,
    label: str | None = None,
    note: str | None = None,
    roll_back: bool = True,
    options: ProofOptions | None = None,
    output: Output | None = None,
    hook_output: Output | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    with_db: bool = False,
) -> ChangeResult:
    """``safepoint run -- CMD``: the command runs in the root, with ``/bin/sh`` when it is one
    word (``'git pull && ./deploy.sh'``), else as the program and arguments given; each line
    of its output goes to ``output`` as it comes. Ctrl-C stops the command's whole process
    group and rolls back (``interrupted``)."""
    from safepoint.health.process import run_shell  # subprocess machinery: only here

    if not command:
        raise UsageError("give the command to run after '--' (safepoint run -- CMD)")
    text = command[0] if len(command) == 1 else _shell_join(command)
    change = begin_change(
        site, label=label, what=text, note=note, options=options, with_db=with_db
    )
    if on_checkpoint is not None:
        on_checkpoint(change.before)
    failure, interrupted, done = None, False, None
    try:
        done = run_shell(text, cwd=site.root, timeout=math.inf, on_line=output or _discard)
    except KeyboardInterrupt:  # run_shell has stopped the command's process group
        failure, interrupted = "interrupted while the command ran", True
    except OSError as exc:
        failure = f"the command could not be started: {exc}"
    if done is not None and not done.ok:
        failure = f"the command failed: {done.describe()}"
    return finish_change(
        site,
        change,
        failure=failure,
        interrupted=interrupted,
        command=done,
        roll_back=roll_back,
        options=options,
        hook_output=hook_output,
    )


@contextmanager
def change(
    site: Site,
    *,
    label: str | None = None,
    note: str | None = None,
    roll_back: bool = True,
    options: ProofOptions | None = None,
    hook_output: Output | None = None,
    with_db: bool = False,
) -> Iterator[Change]:
    """A guarded change in Python (see the module docstring)::

        with safepoint.change(site, label="edit views") as change:
            ...  # edit files
        if not change.result.ok:  # rolled back (change.result.outcome, .summary())
            ...

    An exception in the block rolls back at once (no health proof) and is re-raised once the
    rollback is done. A change that fails its health proof is rolled back and does **not**
    raise: ``change.result`` says what happened (``ok``, ``outcome``, ``summary()``,
    ``exit_code`` as ``safepoint run`` would exit). ``with_db``: the database is snapshotted
    with the checkpoint before, and a rollback brings it back too."""
    guarded = begin_change(
        site, label=label, what=label or "change()", note=note, options=options, with_db=with_db
    )
    try:
        yield guarded
    except BaseException as exc:
        finish_change(
            site,
            guarded,
            failure=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            interrupted=isinstance(exc, KeyboardInterrupt),
            roll_back=roll_back,
            options=options,
            hook_output=hook_output,
        )
        raise
    finish_change(site, guarded, roll_back=roll_back, options=options, hook_output=hook_output)


def _shell_join(words: list[str]) -> str:
    import shlex

    return shlex.join(words)


def _discard(_: str) -> None:
    pass
