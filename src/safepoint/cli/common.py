"""What every command shares: ``--root``/``SAFEPOINT_ROOT`` and ``--json``, opening the site."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from safepoint.cli.env import Environment
from safepoint.cli.output import Output
from safepoint.ops.site import Site, open_site

F = TypeVar("F", bound=Callable[..., Any])


def site_options(func: F) -> F:
    func = click.option(
        "--json", "json_mode", is_flag=True, help="Print one JSON document on stdout."
    )(func)
    func = click.option(
        "--root",
        type=click.Path(file_okay=False),
        envvar="SAFEPOINT_ROOT",
        help="Site root (default: nearest folder upwards with safepoint.toml).",
    )(func)
    return func


def env_of(ctx: click.Context) -> Environment:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Environment) else Environment()


def output(ctx: click.Context, json_mode: bool) -> Output:
    return Output(env_of(ctx), json_mode=json_mode)


def site(root: str | None) -> Site:
    s = open_site(root)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        stderr = env_of(ctx).stderr

        def notify(line: str) -> None:
            stderr.write(f"safepoint: {line}\n")

        s.notify = notify
    return s
