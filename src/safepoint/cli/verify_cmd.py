"""``safepoint verify``."""

from __future__ import annotations

import click

from safepoint.cli.common import output, site, site_options
from safepoint.cli.output import human_size
from safepoint.errors import ExitStatus
from safepoint.ops.refs import resolve
from safepoint.ops.verify import verify_checkpoints


@click.command()
@click.argument("refs", nargs=-1)
@site_options
@click.pass_context
def verify(ctx: click.Context, refs: tuple[str, ...], root: str | None, json_mode: bool) -> int:
    """Re-read and re-hash everything the checkpoints use (all, or the given REFs)."""
    out = output(ctx, json_mode)
    with site(root) as s:
        repo = s.repository
        everything = repo.checkpoints()
        chosen = [resolve(r, everything) for r in refs] if refs else everything
        report = verify_checkpoints(repo, chosen, progress=out.progress())
    if json_mode:
        out.json(
            {
                "ok": report.ok,
                "checkpoints": len(report.checked),
                "blobs": report.blobs,
                "bytes": report.bytes,
                "damaged": report.damaged,
                "damaged_records": report.records,
            }
        )
    else:
        out.line(
            f"checked {len(report.checked)} checkpoints, {report.blobs} blobs, "
            f"{human_size(report.bytes)}"
        )
        for cid, problems in report.damaged.items():
            cp = next(c for c in report.checked if c.id == cid)
            name = f"{cp.short_id}{f' ({cp.label})' if cp.label else ''}"
            for problem in problems:
                out.line(f"DAMAGED {name}: {problem}")
        for path, problem in report.records.items():
            out.line(f"DAMAGED record {path}: {problem}")
    if not report.ok:
        damaged = len(report.damaged) + len(report.records)
        out.env.stderr.write(f"safepoint: {damaged} checkpoint(s) damaged\n")
        return int(ExitStatus.INTEGRITY)
    return int(ExitStatus.OK)
