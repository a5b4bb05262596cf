"""``safepoint export REF [-o FILE|DIR/] [--format tar.gz|tar.zst]``."""

from __future__ import annotations

import click

from safepoint.archive.layout import FORMATS
from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import human_size
from safepoint.ops.export import export_checkpoint
from safepoint.ops.refs import resolve


@click.command()
@click.argument("ref")
@click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(),
    help="Archive file, or a folder (an existing one, or a path ending in /) for the default "
    "names (<site>_<label>_<YYYYmmdd_HHMMSS>.tar.gz, its .sha256 and restore_*.sh). Default: "
    "the working directory when outside the site, else the folder holding the site root.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Compression (default: from the file name, else tar.gz).",
)
@site_options
@click.pass_context
def export(
    ctx: click.Context,
    ref: str,
    output_path: str | None,
    fmt: str | None,
    root: str | None,
    json_mode: bool,
) -> None:
    """Write a checkpoint as a tar archive, with a .sha256 and a standalone restore script."""
    out = output(ctx, json_mode)
    with site(root) as s:
        cp = resolve(ref, s.repository.listed())
        result = export_checkpoint(
            s,
            cp,
            output=output_path,  # as typed: a trailing "/" names a folder
            fmt=fmt,
            progress=out.progress(),
        )
    for warning in result.warnings:
        out.warn(warning)
    if json_mode:
        out.json(
            {
                "checkpoint": cp.id,
                "label": cp.label,
                "archive": str(result.archive),
                "format": result.format,
                "size": result.size,
                "sha256": result.sha256,
                "checksum_file": str(result.checksum_file),
                "restore_script": str(result.restore_script),
                "entries": result.entries,
                "removals": result.removals,
                "warnings": result.warnings,
            }
        )
        return
    out.line(f"exported {cp.short_id}{f' ({cp.label})' if cp.label else ''} to {result.archive}")
    out.line(f"  {human_size(result.size)}, sha256 {result.sha256}")
    out.line(f"  checksum: {result.checksum_file}  (sha256sum -c {result.checksum_file.name})")
    out.line(f"  restore:  sh {result.restore_script}")
