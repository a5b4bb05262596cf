"""``safepoint timeline``: the history page (ops/timeline.py)."""

from __future__ import annotations

import click

from safepoint.cli.common import output, site, site_options
from safepoint.ops.timeline import write_timeline


@click.command()
@click.option(
    "--html",
    "html_path",
    type=click.Path(),
    help="Write the page here (default: SITE-timeline.html in the working directory, or beside "
    "the site root when inside it).",
)
@click.option("--open", "open_page", is_flag=True, help="Open the page in a web browser.")
@site_options
@click.pass_context
def timeline(
    ctx: click.Context, html_path: str | None, open_page: bool, root: str | None, json_mode: bool
) -> int:
    """Write a self-contained HTML page with the checkpoints on a time axis: labels, kinds,
    marks, rollbacks and their outcome, size added, files changed."""
    out = output(ctx, json_mode)
    with site(root) as s:
        path, history = write_timeline(s, html_path)
    if json_mode:
        out.json(
            {
                "path": str(path),
                "checkpoints": len(history.points),
                "rollbacks": len(history.rollbacks),
            }
        )
    else:
        out.line(
            f"wrote {path}: {len(history.points)} checkpoints, {len(history.rollbacks)} rollbacks"
        )
    if open_page:
        import webbrowser

        if not webbrowser.open(path.as_uri()):
            out.warn(f"no web browser to open {path} with")
    return 0
