"""What every command shares: ``--root``/``SAFEPOINT_ROOT`` and ``--json``, opening the site."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from safepoint.cli.env import Environment
from safepoint.cli.output import Output, printable
from safepoint.ops.site import Site, open_site

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
