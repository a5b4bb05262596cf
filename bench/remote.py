"""Remote repository (issue 17): safepoint on S3, safepoint on a local repository and restic on
the same S3 server, on the same files.

Run from the checkout: ``.venv/bin/python bench/remote.py --site DIR --runs 3`` (or ``--files
N`` for a generated tree of N small files instead of a site). Every run starts a moto server
on 127.0.0.1 and, for each tool in turn, a fresh copy of the site and a fresh repository; the
table shows the median of ``--runs``. See bench/README.md ("The remote row") for the rows.

The file set is bench/run.py's: ``trees.COMMON_EXCLUDES`` for restic, safepoint's defaults
with ``trees.SAFEPOINT_REINCLUDES`` (the venv and bytecode kept), so both store the same
files; the runner counts what each stored and withholds the ratios if they differ.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the moto server helper in tests/
from peers import Restic, Safepoint, Step, Tool, first_line  # noqa: E402
from report import fmt_mib, ratio  # noqa: E402
from run import find_safepoint  # noqa: E402
from timing import Measurement, Timer, run_quiet  # noqa: E402
from trees import (  # noqa: E402
    EditSet,
    TreeStats,
    count_tree,
    exclude_spec,
    make_synthetic,
    reset_tree,
    source_files,
)
from wire import CountingRelay, Traffic, bucket_bytes, counting_relay  # noqa: E402

from tests.store.backend.servers import Server, moto_server, new_bucket  # noqa: E402

SIDES = {"sp-s3": "safepoint, S3", "sp-local": "safepoint, local", "restic-s3": "restic, S3"}
OPS = {
    "create": "1 first checkpoint",
    "edit10": "2 checkpoint after 10 edits",
    "rollback": "3 rollback of the 10 edits (restic: restore --include of the 10 files in place)",
    "restore": "4 full restore into an empty dir (safepoint restore --to, restic restore)",
    "fresh": "5 first rollback on a fresh host, empty cache (restic: full restore, new cache)",
}
HANDFUL = 5  # stored-file counts further apart than this are not the same file set
PASSWORD = "safepoint-bench"


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_kib: int
    wire: Traffic | None  # through the counting relay; None for the local repository
    own: Traffic | None  # safepoint's SAFEPOINT_TRANSFER_LOG
    stored: int | None  # growth of the bucket


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class RemoteBench:
    def __init__(self, original: Path, exe: str, timer: Timer, restic: bool) -> None:
        self.original = original
        self.exe = exe
        self.timer = timer
        self.sides = [s for s in SIDES if restic or not s.startswith("restic")]
        self.spec = exclude_spec()
        self.expected: TreeStats = count_tree(original, self.spec)
        self.samples: dict[tuple[str, str], list[Sample]] = {}
        self.stored_files: dict[str, int] = {}

    # -- one run: a moto server, each tool in turn ---------------------------------------------
    def one_run(self, run: int, work: Path) -> None:
        with moto_server(work) as server, counting_relay(server.endpoint) as relay:
            for side in self.sides:
                side_dir = work / side
                side_dir.mkdir()
                Side(self, side, run, side_dir, server, relay).go()

    def record(self, op: str, side: str, sample: Sample) -> None:
        self.samples.setdefault((op, side), []).append(sample)

    # -- the table -----------------------------------------------------------------------------
    def comparable(self) -> bool:
        counts = list(self.stored_files.values())
        return bool(counts) and max(counts) - min(counts) <= HANDFUL and \
            abs(counts[0] - self.expected.files) <= HANDFUL

    def table(self) -> list[str]:
        lines = ["| step | tool | seconds, median (min-max) | sent | received | bucket growth "
                 "| peak RSS | restic / safepoint S3 |", "|---|---|---|---|---|---|---|---|"]
        for op, title in OPS.items():
            for side in self.sides:
                got = self.samples.get((op, side))
                if not got:
                    continue
                lines.append(f"| {title} | {SIDES[side]} | {self._seconds(got)} "
                             f"| {self._median_size(got, 'up')} | {self._median_size(got, 'down')} "
                             f"| {self._stored(got)} "
                             f"| {fmt_mib(statistics.median(s.rss_kib for s in got))} "
                             f"| {self._ratio(op, side)} |")
                title = ""
        return lines

    @staticmethod
    def _seconds(got: list[Sample]) -> str:
        secs = [s.seconds for s in got]
        return f"{statistics.median(secs):.2f} ({min(secs):.2f}-{max(secs):.2f})"

    @staticmethod
    def _median_size(got: list[Sample], way: str) -> str:
        values = [getattr(s.wire, way) for s in got if s.wire is not None]
        return _size(statistics.median(values)) if values else "—"

    @staticmethod
    def _stored(got: list[Sample]) -> str:
        values = [s.stored for s in got if s.stored is not None]
        return _size(statistics.median(values)) if values else ""

    def _ratio(self, op: str, side: str) -> str:
        sp = self.samples.get((op, "sp-s3"))
        if not side.startswith("restic") or not sp:
            return ""
        if not self.comparable():
            return "withheld (file sets differ)"
        them = self.samples[(op, side)]
        seconds = ratio(statistics.median(s.seconds for s in them),
                        statistics.median(s.seconds for s in sp))
        sent = [(s.wire.up + s.wire.down, t.wire.up + t.wire.down)
                for s, t in zip(them, sp, strict=True) if s.wire and t.wire]
        moved = ratio(statistics.median(a for a, _ in sent), statistics.median(b for _, b in sent))
        return f"time {seconds}, bytes {moved or '—'}"

    def own_lines(self) -> list[str]:
        out = []
        for op, title in OPS.items():
            own = [s.own for s in self.samples.get((op, "sp-s3"), []) if s.own is not None]
            if own:
                out.append(f"- {title}: {statistics.median(t.up for t in own):,.0f} B sent, "
                           f"{statistics.median(t.down for t in own):,.0f} B received")
        return out


class Side:
    """One tool through every step of one run: its own copy of the site and repository."""

    def __init__(self, bench: RemoteBench, side: str, run: int, work: Path, server: Server,
                 relay: CountingRelay) -> None:
        self.bench, self.side, self.run, self.work = bench, side, run, work
        self.relay = relay
        self.remote = side.endswith("-s3")
        self.transfer_log = work / "transfer.log"
        self.env = {**server.env(work), "AWS_ENDPOINT_URL": relay.endpoint,
                    "SAFEPOINT_PASSWORD": PASSWORD,
                    "SAFEPOINT_TRANSFER_LOG": str(self.transfer_log)}
        self.bucket = new_bucket(server) if self.remote else ""
        self.s3 = _client(server) if self.remote else None
        self.site = work / "site"

    def tool(self, repo: Path) -> Tool:
        tool: Tool = Restic() if self.side.startswith("restic") else Safepoint(self.bench.exe)
        if self.remote:
            tool.url = (f"s3:{self.relay.endpoint}/{self.bucket}/repo"
                        if isinstance(tool, Restic) else f"s3://{self.bucket}/repo")
        tool.extra_env = self.env
        tool.repo = repo
        return tool

    def go(self) -> None:
        bench = self.bench
        log(f"[run {self.run + 1}, {SIDES[self.side]}]")
        reset_tree(bench.original, self.site)
        tool = self.tool(self.work / "repo")
        tool.setup(self.site, tool.repo)
        base = self.step("create", lambda: tool.checkpoint(bench.timer, "base"), stored=True)
        if self.run == 0:
            self.count_stored(tool, base)
        edits = EditSet.choose(self.site, source_files(self.site, bench.spec), round=1)
        edits.apply()
        self.step("edit10", lambda: tool.checkpoint(bench.timer, "edit10"), stored=True)
        if isinstance(tool, Restic):
            self.step("rollback", lambda: self.restic_restore_files(tool, base, edits.paths))
        else:
            self.step("rollback", lambda: tool.rollback(bench.timer, base, self.site, None))
        if left := edits.unrolled():
            raise SystemExit(f"{SIDES[self.side]}: {len(left)} edited files not rolled back")
        dest = self.work / "restored"
        dest.mkdir()
        self.step("restore", lambda: tool.restore(bench.timer, base, dest))
        self.check_tree(dest, "restore")
        shutil.rmtree(dest)
        if self.remote:
            self.fresh_host(base)

    def fresh_host(self, base: str) -> None:
        """A second host: an empty site root (safepoint) or folder (restic), no cache."""
        host = self.work / "host-b"
        host.mkdir()
        tool = self.tool(self.work / "host-b-cache" / "repo")  # restic's cache goes beside it
        if isinstance(tool, Restic):
            tool.site = host
            self.step("fresh", lambda: tool.restore(self.bench.timer, base, host))
        else:
            tool.setup(host, tool.repo)  # untimed: safepoint.toml and init
            self.step("fresh", lambda: tool.rollback(self.bench.timer, base, host, None))
        self.check_tree(host, "fresh host")
        shutil.rmtree(host)

    def restic_restore_files(self, tool: Restic, snapshot: str, paths: list[str]) -> Step:
        includes = [arg for rel in paths for arg in ("--include", f"/{rel}")]
        argv = ["restic", "-r", tool.location, "restore", snapshot, "--target", str(self.site),
                *includes]
        return Step(self.bench.timer.run(argv, env=tool.env()))

    def step(self, op: str, timed: Callable[[], Step], *, stored: bool = False) -> str:
        """Run one timed step; the relay, the transfer log and the bucket are read around it,
        so untimed work between steps (setup, counting) is billed to none of them."""
        self.transfer_log.unlink(missing_ok=True)
        before = self.relay.traffic()
        stored_before = bucket_bytes(self.s3, self.bucket) if stored and self.s3 else 0
        step = timed()
        m: Measurement = step.measurement
        if not step.ok:
            raise SystemExit(f"{SIDES[self.side]}: {op}: {shlex.join(m.argv)}: "
                             f"{m.last_error_line()}")
        wire = self.relay.traffic() - before if self.remote else None
        own = self._own_traffic() if self.side.startswith("sp") and self.remote else None
        grown = None
        if stored and self.s3 is not None:
            grown = bucket_bytes(self.s3, self.bucket) - stored_before
        self.bench.record(op, self.side, Sample(m.seconds, m.max_rss_kib, wire, own, grown))
        moved = f"  sent {wire.up:,} B, received {wire.down:,} B" if wire else ""
        log(f"  {op:9} {m.seconds:7.2f} s{moved}")
        return step.ref or ""

    def _own_traffic(self) -> Traffic | None:
        if not self.transfer_log.exists():
            return None
        lines = [json.loads(line) for line in self.transfer_log.read_text().splitlines()]
        self.transfer_log.unlink()
        return Traffic(sum(d.get("sent", 0) for d in lines),
                       sum(d.get("received", 0) for d in lines))

    def count_stored(self, tool: Tool, ref: str) -> None:
        if isinstance(tool, Restic):
            m = run_quiet(["restic", "-r", tool.location, "ls", "--json", ref], env=tool.env())
            nodes = [json.loads(line) for line in m.stdout.splitlines() if line.strip()]
            files = sum(1 for n in nodes if n.get("struct_type") == "node"
                        and n.get("type") == "file")
        else:
            m = run_quiet([self.bench.exe, "list", "--json", "--root", str(self.site)],
                          env=tool.env())
            files = next(c["files"] for c in json.loads(m.stdout) if ref in (c["id"], c["label"]))
        self.bench.stored_files[self.side] = files

    def check_tree(self, root: Path, what: str) -> None:
        got = count_tree(root, self.bench.spec)
        if got != self.bench.expected:
            raise SystemExit(f"{SIDES[self.side]}: {what} gave {got}, "
                             f"expected {self.bench.expected}")


def _client(server: Server) -> object:
    import boto3

    return boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=server.key,
                        aws_secret_access_key=server.secret, region_name="us-east-1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--site", type=Path, help="the site to measure on (only read)")
    where.add_argument("--files", type=int, default=4000,
                       help="without --site: a generated tree of this many small files")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--safepoint", help="the safepoint command (default: the one on PATH)")
    parser.add_argument("--no-restic", action="store_true", help="leave restic out")
    args = parser.parse_args(argv)
    exe = find_safepoint(args.safepoint)
    if exe is None:
        parser.error("safepoint command not found (give --safepoint PATH)")
    restic = not args.no_restic and shutil.which("restic") is not None
    # A plain kill stops the run through the finally blocks: moto stopped, work dir removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="sp-remote-bench-"))
    try:
        original = args.site
        if original is None:
            original = work / "generated"
            make_synthetic(original, args.files)
        bench = RemoteBench(original, exe, Timer(cold=False), restic)
        load_before = os.getloadavg()
        for run in range(args.runs):
            run_dir = work / f"run{run}"
            run_dir.mkdir()
            bench.one_run(run, run_dir)
            shutil.rmtree(run_dir)
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(bench, args, argv, exe, restic, load_before, load_after)
    return 0


def report(bench: RemoteBench, args: argparse.Namespace, argv: list[str] | None, exe: str,
           restic: bool, load_before: tuple[float, ...], load_after: tuple[float, ...]) -> None:
    e = bench.expected
    cmd = shlex.join(["python", "bench/remote.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"command: {cmd}")
    print(f"tree: {args.site or f'generated, {args.files} files'}: {e.files:,} files, "
          f"{e.dirs:,} dirs, {e.symlinks:,} symlinks, {e.bytes / 1e6:.1f} MB "
          "(bench/run.py's file set: the venv included, data and logs left out)")
    peer = first_line(["restic", "version"]) if restic else "restic not run (not installed)"
    print(f"versions: {first_line([exe, '--version'])}; {peer}")
    print(f"runs: {args.runs}, median shown; page cache warm (sync before each step); "
          f"load average (1, 5, 15 min) before {_load(load_before)}, after {_load(load_after)} "
          f"on {os.cpu_count()} cores")
    counts = ", ".join(f"{SIDES[s]} {n:,}" for s, n in bench.stored_files.items())
    verdict = "same file set" if bench.comparable() else \
        f"DIFFERENT FILE SETS (more than {HANDFUL} apart): ratios withheld"
    print(f"files stored in the first checkpoint: {counts}; the tree has {e.files:,}: {verdict}")
    print()
    print(*bench.table(), sep="\n")
    print()
    print("sent/received: bytes through a counting TCP relay in front of the S3 server (HTTP "
          "included), the same for both tools; bucket growth: the sum of object sizes after the "
          "step minus before. safepoint's own count (SAFEPOINT_TRANSFER_LOG), S3:")
    print(*bench.own_lines(), sep="\n")


def _size(n: float) -> str:
    return f"{n / 1e3:.1f} kB" if n < 1e6 else f"{n / 1e6:.2f} MB"


def _load(load: tuple[float, ...]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    sys.exit(main())
