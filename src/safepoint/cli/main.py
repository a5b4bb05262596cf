"""Entry point: ``main(argv, env) -> exit status``. Parse, run, map exceptions to exit codes;
nothing else."""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Sequence

import click

from safepoint.cli.commands import COMMANDS
from safepoint.cli.env import Environment
from safepoint.cli.output import printable
from safepoint.diskspace import describe
from safepoint.errors import ExitStatus, SafepointError
from safepoint.version import __version__


class LazyGroup(click.Group):
    """Imports a command's module when the command is looked up (see commands.py)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="safepoint")
def cli() -> None:
    """Checkpoints and verified one-command rollback for a directory-deployed site."""


INTERRUPTED = 130  # the shell's convention for SIGINT (128 + 2)


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    env = env or Environment()
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        result = cli.main(
            args=args,
            prog_name="safepoint",
            standalone_mode=False,
            obj=env,
        )
    except SafepointError as exc:
        return _fail(env, str(exc), exc.exit_code, _kind(exc))
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort as exc:
        # click turns a KeyboardInterrupt anywhere in a command (a thread pool, a hook's wait,
        # a prompt) into Abort; EOF at a prompt is an abort too, but not an interruption.
        if isinstance(exc.__cause__, KeyboardInterrupt):
            return _fail(env, "interrupted", INTERRUPTED, "interrupted")
        return _fail(env, "aborted", ExitStatus.ERROR, "aborted")
    except click.ClickException as exc:
        # A bad option is found before --json is read: look for it in the words given.
        env.json_mode = env.json_mode or "--json" in args
        return _fail(
            env, f"{exc.format_message()} (see 'safepoint --help')", ExitStatus.USAGE, "usage"
        )
    except KeyboardInterrupt:
        return _fail(env, "interrupted", INTERRUPTED, "interrupted")
    except OSError as exc:
        # An unexpected I/O failure still gets one line, not a traceback.
        return _fail(env, describe(exc), ExitStatus.ERROR, "io")
    return int(result) if isinstance(result, int) else int(ExitStatus.OK)


def _fail(env: Environment, message: str, code: int, kind: str) -> int:
    """One line on stderr; with ``--json``, also one JSON object on stdout (unless the command
    already printed its document, e.g. the report of a rollback that was undone)."""
    env.stderr.write(f"safepoint: {printable(message)}\n")
    if env.json_mode and not env.json_written:
        doc = {"error": message, "exit_code": int(code), "kind": kind}
        env.stdout.write(json.dumps(doc) + "\n")
    return int(code)


def _kind(exc: SafepointError) -> str:
    """``BadReferenceError`` -> ``bad_reference``: what a script can branch on."""
    name = type(exc).__name__.removesuffix("Error") or "error"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def run() -> None:
    # File names that are not UTF-8 are carried as surrogate escapes; print them as the bytes
    # they are rather than fail (stdout is 'strict' under some locales).
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")
    sys.exit(main())
