"""``safepoint run -- CMD``: a guarded change (the rule is in ops/change.py)."""

from __future__ import annotations

import shlex

import click

from safepoint.cli.common import output, print_proof, print_rollback, read_note, site, site_options
from safepoint.cli.health_cmd import DEADLINE_HELP
from safepoint.cli.output import human_duration, printable
from safepoint.cli.proof_output import proof_progress
from safepoint.ops.change import OK, ChangeResult, run_change
from safepoint.store.records import Checkpoint


@click.command(
    "run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option("--label", "-l", help="Label of the checkpoint before (default: 'before: CMD').")
@click.option("--note", help="A note kept with the checkpoint before.")
@click.option(
    "--note-file", type=click.Path(dir_okay=False), help="Keep this file's content as the note."
)
@click.option(
    "--no-rollback", is_flag=True, help="Only report a failed change; leave the site as it is."
)
@click.option(
    "--with-db",
    is_flag=True,
    help="Snapshot the database with the checkpoint before; a rollback brings it back too.",
)
@click.option("--deadline", type=click.FloatRange(min=0, min_open=True), help=DEADLINE_HELP)
@site_options
@click.argument(
    "command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD [ARGS]..."
)
@click.pass_context
def run(
    ctx: click.Context,
    label: str | None,
    note: str | None,
    note_file: str | None,
    no_rollback: bool,
    with_db: bool,
    deadline: float | None,
    root: str | None,
    json_mode: bool,
    command: tuple[str, ...],
) -> int:
    """Checkpoint, run CMD in the site root, reload the app, prove health; roll back to the
    checkpoint when CMD fails or the site is unhealthy (exit 5; 6 when the rollback failed
    too). One word is a shell command line: safepoint run -- 'git pull && ./deploy.sh'."""
    out = output(ctx, json_mode)
    env = out.env
    text = read_note(note, note_file)
    # The command's own output: stdout in a person's terminal, stderr beside a JSON document.
    stream = env.stderr if json_mode else env.stdout

    def show(line: str) -> None:
        stream.write(printable(line) + "\n")
        stream.flush()

    def hook_output(line: str) -> None:
        env.stderr.write(f"  | {printable(line)}\n")

    def started(cp: Checkpoint) -> None:
        shown = command[0] if len(command) == 1 else shlex.join(command)
        out.line(f"checkpoint {cp.display_name}; running: {shown}")
        env.stdout.flush()

    with site(root) as s, proof_progress(out, deadline=deadline) as proof_options:
        result = run_change(
            s,
            list(command),
            label=label,
            note=text,
            roll_back=not no_rollback,
            options=proof_options,
            output=show,
            hook_output=hook_output,
            on_checkpoint=started,
            with_db=with_db,
        )
    if json_mode:
        out.json(result.to_json())
    else:
        _print(out, result)
    if result.outcome != OK:
        env.stderr.write(f"safepoint: {printable(result.summary())}\n")
    return int(result.exit_code)


def _print(out, result: ChangeResult) -> None:  # type: ignore[no-untyped-def]
    if result.command is not None:
        out.line(
            f"command {result.command.outcome} after {human_duration(result.command.duration)}"
        )
    if result.proof is not None:
        print_proof(out, result.proof, "after the change")
    if result.rollback is not None:
        print_rollback(out, result.rollback)
    out.line(f"{result.outcome} in {human_duration(result.seconds)}: {result.summary()}")
