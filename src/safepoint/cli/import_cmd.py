"""``safepoint import FILE [--label L] [--max-size SIZE] [--max-ratio N] [--max-entries N]``."""

from __future__ import annotations

from pathlib import Path

import click

from safepoint.archive.limits import ImportLimits, parse_size
from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import human_size
from safepoint.ops.import_ import import_archive


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--label", "-l", help="Label the checkpoint (instead of the archive's own).")
@click.option("--max-size", help="Refuse a member larger than this (default 4G; e.g. 16G, 500M).")
@click.option(
    "--max-ratio",
    type=click.FloatRange(min=0),
    default=ImportLimits.max_ratio,
    show_default=True,
    help="Refuse an archive that expands more than this many times (0: no limit).",
)
@click.option(
    "--max-entries",
    type=click.IntRange(min=1),
    default=ImportLimits.max_entries,
    show_default=True,
    help="Refuse an archive of more entries.",
)
@site_options
@click.pass_context
def import_(
    ctx: click.Context,
    file: str,
    label: str | None,
    max_size: str | None,
    max_ratio: float,
    max_entries: int,
    root: str | None,
    json_mode: bool,
) -> None:
    """Add an archive (a safepoint export or a plain tar of the site) as a checkpoint."""
    out = output(ctx, json_mode)
    limits = ImportLimits(
        parse_size(max_size) if max_size is not None else ImportLimits.max_member,
        max_ratio,
        max_entries,
    )
    with site(root) as s:
        result = import_archive(s, Path(file), label=label, limits=limits, progress=out.progress())
    cp = result.checkpoint
    if not result.checksum_checked:
        out.warn(f"no {Path(file).name}.sha256 beside the archive: its checksum was not checked")
    if json_mode:
        out.json(
            {
                **cp.to_json(),
                "short_id": cp.short_id,
                "existing": result.existing,
                "source": result.source,
                "checksum_checked": result.checksum_checked,
                "stripped": result.stripped,
                "skipped": result.skipped,
            }
        )
        return
    name = f"{cp.short_id}{f' ({cp.label})' if cp.label else ''}"
    if result.existing:
        out.line(f"already in the repository as checkpoint {name}; nothing was added")
        return
    out.line(
        f"imported checkpoint {name}: {cp.files} files, {human_size(cp.bytes)}, "
        f"{human_size(cp.new_bytes)} newly stored"
    )
    if result.stripped:
        out.line(f"  paths taken from inside the archive's top folder {result.stripped}/")
    if result.skipped:
        out.line(f"  left out {len(result.skipped)} path(s) the site's rules exclude")
