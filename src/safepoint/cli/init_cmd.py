"""``safepoint init``."""

from __future__ import annotations

from pathlib import Path

import click

from safepoint.cli.common import output, site_options
from safepoint.cli.found import fold
from safepoint.ops.init import init_site


@click.command()
@click.option("--force", is_flag=True, help="Make a site even inside another site's root.")
@site_options
@click.pass_context
def init(ctx: click.Context, force: bool, root: str | None, json_mode: bool) -> None:
    """Write safepoint.toml and create the repository (harmless to repeat)."""
    out = output(ctx, json_mode)
    result = init_site(Path(root or ".").absolute(), force=force)
    if json_mode:
        out.json(
            {
                "root": str(result.root),
                "config_written": result.config_written,
                "repository": str(result.repository),
                "venvs": list(result.venvs),
                "django": result.django,
                "gunicorn": result.gunicorn,
                "health_url": result.health_url,
                "not_in_checkpoints": [{"path": p, "what": w} for p, w in result.found],
            }
        )
        return
    verb = "wrote" if result.config_written else "kept existing"
    out.line(f"{verb} {result.root / 'safepoint.toml'}")
    out.line(f"repository: {result.repository}")
    if result.venvs:
        out.line(f"virtual environment (excluded): {', '.join(result.venvs)}")
    if result.gunicorn is not None:
        proposed = f"; a check on {result.health_url} is proposed" if result.health_url else ""
        out.line(
            f"gunicorn master {result.gunicorn} found running in the site: [app] filled{proposed} "
            "(review both in safepoint.toml)"
        )
    if result.found:
        out.line(f"not in checkpoints: {fold(result.found)}")
    if result.django:
        out.line("Django project detected (manage.py); set the [health] checks in safepoint.toml")
