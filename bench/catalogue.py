"""The catalogue's benchmark: ``list``, ``show latest`` and a 10-edit ``create`` with 10 and
with 10,000 checkpoints (issue 14: within 50 ms of their time with 10).

    python bench/catalogue.py [--records 10000] [--runs 5] [--safepoint PATH]

It builds a small site (200 files), makes 10 real checkpoints, then adds synthetic records
(copies of the newest with other creation times, one per hour backwards, a few marked) through
the store's record format, written without fsync to be quick. Each command is timed as a
subprocess, ``--runs`` times, and the median printed; the first command after the records
appear rebuilds the catalogue and is shown apart ("rebuild").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from safepoint.ops.refs import resolve
from safepoint.store.records import load_record, record_body
from safepoint.store.repository import Repository

CPU: dict[str, list[float]] = {}  # command name -> CPU seconds (user + system) of each run


def run(cmd: list[str], cwd: Path, name: str | None = None) -> float:
    """Wall seconds; the CPU seconds go to ``CPU[name]`` (less disturbed by a loaded machine
    than the wall time, which waits for a core)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if name is not None:
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        CPU.setdefault(name, []).append(cpu)
    return wall


def build(root: Path, sp: str, records: int) -> None:
    for i in range(200):
        (root / f"d{i % 10}").mkdir(parents=True, exist_ok=True)
        (root / f"d{i % 10}" / f"f{i}.py").write_text(f"x = {i}\n" * 20)
    subprocess.run([sp, "init"], cwd=root, check=True, stdout=subprocess.DEVNULL)
    for i in range(10):
        (root / "d0" / "f0.py").write_text(f"v = {i}\n")
        subprocess.run(
            [sp, "create", "-l", f"real{i}"], cwd=root, check=True, stdout=subprocess.DEVNULL
        )
    repo = root / ".safepoint"
    newest = max(
        (repo / "checkpoints").iterdir(), key=lambda p: load_record(p, repo / "marks").created
    )
    base = load_record(newest, repo / "marks")
    t0 = datetime.fromisoformat(base.created)
    for n in range(records - 10):
        cp = replace(base, created=(t0 - timedelta(hours=n + 1)).isoformat(), label=f"s{n}")
        body = record_body(cp)
        cid = hashlib.sha256(body).hexdigest()
        (repo / "checkpoints" / f"{cid}.json").write_bytes(body)
        if n % 100 == 0:
            (repo / "marks" / f"{cid}.json").write_text(json.dumps({"health": "good"}))
    old = time.time() - 60  # the marks directory's stamp is not racy (store/catalogue.py)
    os.utime(repo / "marks", (old, old))


def edit10(root: Path, round_: int) -> None:
    for i in range(10):
        with open(root / f"d{i}" / f"f{i + 10}.py", "a") as f:
            f.write(f"# {round_}\n")


def measure(sp: str, records: int, runs: int, work: Path) -> dict[str, float]:
    root = work / f"site{records}"
    root.mkdir()
    build(root, sp, records)
    CPU.clear()
    out = {"rebuild (first list --json)": run([sp, "list", "--json"], root, "rebuild")}
    commands = {
        "list --json": [sp, "list", "--json"],
        "list": [sp, "list"],  # the newest 50 (PAGE in cli/list_cmd.py)
        "list --all": [sp, "list", "--all"],
        "show latest": [sp, "show", "latest"],
    }
    for name, cmd in commands.items():
        out[name] = statistics.median(run(cmd, root, name) for _ in range(runs))
    times = []
    for r in range(runs):
        edit10(root, r)
        times.append(run([sp, "create"], root, "create"))
        run([sp, "show", "latest"], root)  # as a user would: the next command pays any refresh
    out["create (10 edits)"] = statistics.median(times)
    for name, cpu in CPU.items():
        out[f"CPU: {name}"] = statistics.median(cpu)
    # In process, the part that grows with the history (start-up of a command excluded).
    repo = Repository.open(root / ".safepoint")
    out["in process: checkpoints() + resolve latest"] = statistics.median(
        _timed(lambda: resolve("latest", repo.checkpoints())) for _ in range(runs)
    )
    out["in process: listed() + resolve latest (show)"] = statistics.median(
        _timed(lambda: resolve("latest", repo.listed())) for _ in range(runs)
    )
    files = list((root / ".safepoint" / "checkpoints").glob("*.json"))
    out["in process: reading every record (before)"] = statistics.median(
        _timed(lambda: [load_record(f, repo.marks_dir) for f in files]) for _ in range(runs)
    )
    return out


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--safepoint", default=str(Path(sys.executable).with_name("safepoint")))
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sp-catalogue-"))
    try:
        small = measure(args.safepoint, 10, args.runs, work)
        large = measure(args.safepoint, args.records, args.runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"| command | 10 checkpoints | {args.records:,} checkpoints | difference |")
    print("|---|---|---|---|")
    for name in small:
        a, b = small[name], large[name]
        print(f"| `{name}` | {a * 1000:.0f} ms | {b * 1000:.0f} ms | {(b - a) * 1000:+.0f} ms |")
    print(f"\nmedians of {args.runs} runs; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
