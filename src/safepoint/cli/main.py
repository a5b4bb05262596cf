"""Entry point: ``main(argv, env) -> exit status``. Parse, run, map exceptions to exit codes;
nothing else."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from safepoint import __version__
from safepoint.cli import commands
from safepoint.cli.env import Environment
from safepoint.errors import ExitStatus, SafepointError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="safepoint")
def cli() -> None:
    """Checkpoints and verified one-command rollback for a directory-deployed site."""


for command in commands.ALL:
    cli.add_command(command)


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
        env.stderr.write(f"safepoint: {exc.strerror or exc}: {exc.filename or ''}\n")
        return int(ExitStatus.ERROR)
    return int(result) if isinstance(result, int) else int(ExitStatus.OK)


def run() -> None:
    sys.exit(main())
