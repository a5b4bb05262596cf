"""Entry point: ``main(argv, env) -> exit status``. Parse, run, map exceptions to exit codes;
nothing else."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from safepoint import __version__
from safepoint.cli.commands import COMMANDS
from safepoint.cli.env import Environment
from safepoint.diskspace import describe
from safepoint.errors import ExitStatus, SafepointError


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


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    env = env or Environment()
    try:
        result = cli.main(
            args=list(argv) if argv is not None else sys.argv[1:],
            prog_name="safepoint",
            standalone_mode=False,
            obj=env,
        )
    except SafepointError as exc:
        env.stderr.write(f"safepoint: {exc}\n")
        return int(exc.exit_code)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        env.stderr.write("safepoint: aborted\n")
        return int(ExitStatus.ERROR)
    except click.ClickException as exc:
        env.stderr.write(f"safepoint: {exc.format_message()} (see 'safepoint --help')\n")
        return int(ExitStatus.USAGE)
    except KeyboardInterrupt:
        env.stderr.write("safepoint: interrupted\n")
        return 130
    except OSError as exc:
        # An unexpected I/O failure still gets one line, not a traceback.
        env.stderr.write(f"safepoint: {describe(exc)}\n")
        return int(ExitStatus.ERROR)
    return int(result) if isinstance(result, int) else int(ExitStatus.OK)


def run() -> None:
    # File names that are not UTF-8 are carried as surrogate escapes; print them as the bytes
    # they are rather than fail (stdout is 'strict' under some locales).
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")
    sys.exit(main())
