"""Benchmark row: thinning a history to its last 10 checkpoints and giving the space back.

safepoint: ``safepoint prune --keep-last 10`` then ``safepoint gc`` (both timed, as one row);
restic: ``restic forget --keep-last 10 --prune`` on the same history.

The history: a copy of the site, then N rounds of one deploy each: 10 source files get one
line appended (the main bench's edit) and ``static/bundle.js`` is replaced by 256 KiB of new
random bytes (a build artefact that changes on every deploy, so most of the old data really is
garbage); after each round both tools take a checkpoint (untimed).

    python bench/gc_bench.py --site /tmp/bench/site --checkpoints 100 --runs 3

Each run thins a copy of the same history; the seconds are the median of the runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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
    p.add_argument("--runs", type=int, default=3, help="prune + gc runs, each on a copy")
    args = p.parse_args(argv)
    exe = find_safepoint(None)
    if exe is None:
        print("safepoint not found", file=sys.stderr)
        return 1
    work = args.work or Path(tempfile.mkdtemp(prefix="gc-bench-"))
    try:
        return run(args.site, work, args.checkpoints, exe, args.runs)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


def run(original: Path, work: Path, count: int, exe: str, runs: int) -> int:
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

    # Each run thins a copy of the same history (made untimed), so the runs can be compared.
    for tool in (sp, restic):
        shutil.copytree(tool.repo, work / f"{tool.repo.name}.history", symlinks=True)
    times: dict[str, list[float]] = {"safepoint prune + gc": [], "restic forget --prune": []}
    rss: dict[str, int] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for _ in range(runs):
        for tool in (sp, restic):
            shutil.rmtree(tool.repo)
            shutil.copytree(work / f"{tool.repo.name}.history", tool.repo, symlinks=True)
        before = du_bytes(sp.repo)
        t0 = time.perf_counter()
        prune = timer.run([exe, "prune", "--keep-last", str(KEEP), "--root", str(site)], cwd=site)
        if not prune.ok:
            raise RuntimeError(f"safepoint prune: {prune.last_error_line()}")
        gc = timer.run([exe, "gc", "--root", str(site)], cwd=site)
        times["safepoint prune + gc"].append(time.perf_counter() - t0)
        if not gc.ok:
            raise RuntimeError(f"safepoint gc: {gc.last_error_line()}")
        rss["safepoint prune + gc"] = max(prune.max_rss_kib, gc.max_rss_kib)
        sizes["safepoint prune + gc"] = (before, du_bytes(sp.repo))
        run_quiet([exe, "check", "--read-data", "--root", str(site)], cwd=site)  # raises if not ok

        before = du_bytes(restic.repo)
        args = ["restic", "-r", str(restic.repo), "forget", "--keep-last", str(KEEP), "--prune"]
        m = timer.run(args, env=restic.env())
        if not m.ok:
            raise RuntimeError(f"restic: {m.last_error_line()}")
        times["restic forget --prune"].append(m.seconds)
        rss["restic forget --prune"] = m.max_rss_kib
        sizes["restic forget --prune"] = (before, du_bytes(restic.repo))
    rows = [
        (name, statistics.median(t), rss[name], *sizes[name]) for name, t in times.items()
    ]

    print(f"\n{count} checkpoints, keep the last {KEEP}; site {original}")
    print(f"medians of {runs} runs; load average {os.getloadavg()[0]:.2f}")
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
