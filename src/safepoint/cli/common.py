"""What commands share: ``--root``/``SAFEPOINT_ROOT`` and ``--json``, opening the site, reading a
note, and the reports that several commands print (a rollback's, a health proof's, the result
of a check or a repair)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from safepoint.cli.env import Environment
from safepoint.cli.found import fold
from safepoint.cli.output import Output, human_duration, printable
from safepoint.errors import ExitStatus, UsageError
from safepoint.ops.site import Site, open_site
from safepoint.store.records import BAD

if TYPE_CHECKING:  # not imported at run time: every command imports this module
    from safepoint.ops.prove import Proof
    from safepoint.ops.rollback import RollbackResult

F = TypeVar("F", bound=Callable[..., Any])


def site_options(func: F) -> F:
    func = click.option(
        "--json",
        "json_mode",
        is_flag=True,
        callback=_note_json,
        help="Print one JSON document on stdout.",
    )(func)
    func = click.option(
        "--wait",
        type=click.FloatRange(min=0),
        expose_value=False,
        callback=_note_wait,
        metavar="SECONDS",
        help="On a remote repository: how long a writer waits for another host's lock "
        "(default 30).",
    )(func)
    func = click.option(
        "--root",
        type=click.Path(file_okay=False),
        envvar="SAFEPOINT_ROOT",
        help="Site root (default: nearest folder upwards with safepoint.toml).",
    )(func)
    return func


def _note_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    """Tell the environment, so that an error raised later prints a JSON object as well."""
    if value:
        env_of(ctx).json_mode = True
    return value


def _note_wait(ctx: click.Context, _param: click.Parameter, value: float | None) -> None:
    if value is not None:
        env_of(ctx).wait = value


def env_of(ctx: click.Context) -> Environment:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Environment) else Environment()


def output(ctx: click.Context, json_mode: bool) -> Output:
    return Output(env_of(ctx), json_mode=json_mode)


@contextmanager
def site(root: str | None) -> Iterator[Site]:
    """The site, opened, with the repository's notices (leftovers swept, packs missing) as
    lines on stderr; once the command is done with it, one warning line per checkpoint record
    that had to be skipped (damaged, or a stray file in checkpoints/)."""
    with open_site(root) as s:
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            stderr = env_of(ctx).stderr

            def notify(line: str) -> None:
                stderr.write(f"safepoint: {printable(line)}\n")

            s.notify = notify
            # A bar on a terminal only, never with --json (output.py decides).
            s.transfers = Output(env_of(ctx), json_mode=env_of(ctx).json_mode).progress()
            wait = env_of(ctx).wait
            if wait is not None:
                s.wait = wait
        try:
            yield s
        finally:
            repo = s.opened_repository
            if repo is not None and ctx is not None:
                for path, problem in sorted(repo.skipped_records.items()):
                    env_of(ctx).stderr.write(f"safepoint: warning: skipped {path}: {problem}\n")


def read_note(note: str | None, note_file: str | None) -> str | None:
    """The note of ``--note`` or ``--note-file`` (not both)."""
    if note is not None and note_file is not None:
        raise UsageError("give --note or --note-file, not both")
    if note_file is None:
        return note
    try:
        return Path(note_file).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read note file {note_file}: {exc.strerror}") from None


def print_not_restored(out: Output, result: RollbackResult) -> None:
    """The paths found in this site that the rollback leaves as they are."""
    if result.not_restored:
        out.line(f"not restored (excluded, left as they are): {fold(result.not_restored)}")
    if result.plan.spared:
        out.line(f"left alone although the checkpoint holds them: {fold(result.plan.spared)}")


def print_rollback(out: Output, result: RollbackResult) -> None:
    """A rollback's report (``rollback``, and ``run`` when it rolled back)."""
    if out.json_mode:
        out.json(result.summary())
        return
    plan = result.plan
    t = result.target
    out.line(
        f"rolled back to {t.short_id}{f' ({t.label})' if t.label else ''}: "
        f"{len(plan.write) + len(plan.link)} written, {len(plan.remove)} removed, "
        f"{plan.unchanged} unchanged in {human_duration(result.seconds)}"
    )
    print_not_restored(out, result)
    if result.proof is not None:
        print_proof(out, result.proof, "after the rollback")
    if result.undone and result.undo_proof is not None:
        out.line("UNDONE: the target was not healthy; the safety checkpoint was put back")
        if t.marks.health == BAD:
            out.line(f"{t.short_id} is now marked bad: a bare rollback and guard skip it")
        print_proof(out, result.undo_proof, "after the undo")
    elif result.safety:
        out.line(
            f"safety checkpoint {result.safety.short_id} "
            f"(undo with: safepoint rollback {result.safety.short_id})"
        )


def print_proof(out: Output, proof: Proof, when: str) -> None:
    """What proved the site healthy or not: the reload, the hooks, the health checks."""
    if proof.reload is not None:
        out.line(f"  {proof.reload.describe()}")
    if proof.reload_error:
        out.line(f"  {proof.reload_error}")
    for hook in proof.hooks:
        out.line(
            f"  hook {hook.command!r}: exit {hook.returncode} ({human_duration(hook.duration)})"
        )
    if proof.hook_error:
        out.line(f"  {proof.hook_error}")
    if proof.health is not None:
        from safepoint.cli.health_cmd import print_report

        out.line(f"health {when}:")
        print_report(out, proof.health, indent="  ")


def print_integrity(out: Output, doc: dict[str, Any], lines: list[str], failure: str | None) -> int:
    """The result of ``check``, ``repair`` or ``repair index``: ``doc`` with --json, else
    ``lines``; ``failure`` (what was found wrong, and what to do) on stderr, exit 3."""
    if out.json_mode:
        out.json(doc)
    else:
        for line in lines:
            out.line(line)
    if failure is not None:
        out.env.stderr.write(f"safepoint: {printable(failure)}\n")
        return int(ExitStatus.INTEGRITY)
    return int(ExitStatus.OK)
