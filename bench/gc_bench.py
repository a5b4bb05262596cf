"""Benchmark row: thinning a history to its last 10 checkpoints and giving the space back.

safepoint: ``safepoint prune --keep-last 10`` then ``safepoint gc`` (both timed, as one row);
restic: ``restic forget --keep-last 10 --prune`` on the same history.

The history: a copy of the site, then N rounds of one deploy each: 10 source files get one
line appended (the main bench's edit) and ``static/bundle.js`` is replaced by 256 KiB of new
random bytes (a build artefact that changes on every deploy, so most of the old data really is
garbage); after each round both tools take a checkpoint (untimed).

    python bench/gc_bench.py --site /tmp/bench/site --checkpoints 100
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from peers import Restic, Safepoint, du_bytes
from run import find_safepoint
from timing import Timer, run_quiet
from trees import EditSet, copy_tree, exclude_spec, source_files

KEEP = 10
BUNDLE = 256 * 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--site", type=Path, required=True)
    p.add_argument("--checkpoints", type=int, default=100)
    p.add_argument("--work", type=Path)
    args = p.parse_args(argv)
    exe = find_safepoint(None)
    if exe is None:
        print("safepoint not found", file=sys.stderr)
        return 1
    work = args.work or Path(tempfile.mkdtemp(prefix="gc-bench-"))
    try:
        return run(args.site, work, args.checkpoints, exe)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


def run(original: Path, work: Path, count: int, exe: str) -> int:
    site = work / "site"
    copy_tree(original, site)
    timer = Timer(cold=False)
    sp, restic = Safepoint(exe), Restic()
    sp.setup(site, work / "sp-repo")
    restic.setup(site, work / "restic-repo")
    candidates = source_files(site, exclude_spec())
    started = time.monotonic()
    for i in range(count):
        EditSet.choose(site, candidates, round=i).apply()
        (site / "static").mkdir(exist_ok=True)
        (site / "static" / "bundle.js").write_bytes(os.urandom(BUNDLE))
        for tool in (sp, restic):
            step = tool.checkpoint(timer, f"deploy-{i}")
            if not step.measurement.ok:
                raise RuntimeError(f"{tool.label}: {step.measurement.last_error_line()}")
        print(f"history: {i + 1}/{count} ({time.monotonic() - started:.0f} s)", file=sys.stderr)

    rows = []
    before = du_bytes(sp.repo)
    t0 = time.perf_counter()
    prune = timer.run([exe, "prune", "--keep-last", str(KEEP), "--root", str(site)], cwd=site)
    if not prune.ok:
        raise RuntimeError(f"safepoint prune: {prune.last_error_line()}")
    gc = timer.run([exe, "gc", "--root", str(site)], cwd=site)
    sp_seconds = time.perf_counter() - t0
    if not gc.ok:
        raise RuntimeError(f"safepoint gc: {gc.last_error_line()}")
    rss = max(prune.max_rss_kib, gc.max_rss_kib)
    rows.append(("safepoint prune + gc", sp_seconds, rss, before, du_bytes(sp.repo)))
    run_quiet([exe, "check", "--read-data", "--root", str(site)], cwd=site)  # raises if not ok

    before = du_bytes(restic.repo)
    args = ["restic", "-r", str(restic.repo), "forget", "--keep-last", str(KEEP), "--prune"]
    m = timer.run(args, env=restic.env())
    if not m.ok:
        raise RuntimeError(f"restic: {m.last_error_line()}")
    rows.append(("restic forget --prune", m.seconds, m.max_rss_kib, before, du_bytes(restic.repo)))

    print(f"\n{count} checkpoints, keep the last {KEEP}; site {original}")
    print("| tool | seconds | peak RSS | repository before | after | given back |")
    print("|---|---|---|---|---|---|")
    for name, seconds, rss, b, a in rows:
        rss_mib = f"{rss / 1024:.0f} MiB"
        print(f"| {name} | {seconds:.2f} | {rss_mib} | {mib(b)} | {mib(a)} | {mib(b - a)} |")
    return 0


def mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


if __name__ == "__main__":
    raise SystemExit(main())
