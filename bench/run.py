#!/usr/bin/env python3
"""safepoint benchmark runner: safepoint side by side with restic, borg, tar+gzip and rsync.

    python bench/run.py --site DIR [--runs N] [--work DIR] [--only op1,op2]
                        [--peers restic,borg,tar,rsync] [--synthetic [N]] [--write-results]

The site is copied to a work directory (the original is only read); every tool works on that one
copy, one timed step at a time, ``--runs`` times over. The table on stdout gives medians, min and
max, the ratio safepoint/peer and the peak RSS of each step; progress goes to stderr. See
``bench/README.md`` for what each row means.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from peers import Borg, Restic, Rsync, Safepoint, Seen, Step, Tar, Tool, first_line
from report import (
    Record,
    Row,
    Section,
    Target,
    fmt_bytes,
    fmt_mib,
    results_markdown,
    size_table,
    targets_lines,
    timing_table,
)
from timing import Timer, rss_method, try_drop_caches
from trees import (
    COMMON_EXCLUDES,
    SAFEPOINT_REINCLUDES,
    EditSet,
    TreeStats,
    copy_tree,
    count_tree,
    exclude_spec,
    make_synthetic,
    reset_tree,
    source_files,
)

OPS = ("create", "edit10", "nochange", "rollback", "restore", "verify", "size")
PEERS = ("restic", "borg", "tar", "rsync")
CHECKPOINTERS = ("safepoint", "restic", "borg", "tar")
TITLES = {
    "create": "1  first checkpoint",
    "edit10": "2a checkpoint, 10 files edited",
    "nochange": "2b checkpoint, nothing changed",
    "rollback": "3  rollback of the 10 edits",
    "restore": "4  restore into an empty dir",
    "verify": "6  verify",
    "syn-create": "S1 first checkpoint",
    "syn-edit10": "S2 checkpoint, 10 files edited",
    "syn-rollback": "S3 rollback of the 10 edits",
}
_CHECKPOINT_LABELS = {"safepoint": "safepoint create", "restic": "restic backup",
                      "borg": "borg create", "tar": "tar czf"}
_AGAIN_LABELS = {**_CHECKPOINT_LABELS, "restic": "restic backup (parent snapshot)",
                 "borg": "borg create (files cache)", "tar": "tar czf (full archive again)"}
# Row labels, in table order; the tools listed for an operation are the ones that take part in it.
LABELS: dict[str, dict[str, str]] = {
    "create": _CHECKPOINT_LABELS,
    "edit10": _AGAIN_LABELS,
    "nochange": _AGAIN_LABELS,
    "rollback": {"safepoint": "safepoint rollback --no-health",
                 "rsync": "rsync -a --delete from mirror",
                 "tar": "tar xzf over the site (seed)"},
    "restore": {"safepoint": "safepoint restore --to", "tar": "tar xzf",
                "restic": "restic restore", "borg": "borg extract"},
    "verify": {"safepoint": "safepoint verify", "restic": "restic check --read-data",
               "borg": "borg check --verify-data", "tar": "sha256sum -c"},
    "size": {"safepoint": "safepoint", "restic": "restic", "borg": "borg",
             "tar": "one tar.gz per checkpoint"},
}
LABELS["syn-create"] = LABELS["create"]
LABELS["syn-edit10"] = LABELS["edit10"]
LABELS["syn-rollback"] = {"safepoint": LABELS["rollback"]["safepoint"],
                          "rsync": LABELS["rollback"]["rsync"]}
RSS_GROWTH_LIMIT = 1.5  # synthetic tree vs the site, for the "memory" target


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Bench:
    """One benchmark session: the tools, the timer, and everything measured so far."""

    def __init__(self, *, tools: dict[str, Tool], timer: Timer, ops: tuple[str, ...],
                 work: Path) -> None:
        self.tools = tools
        self.timer = timer
        self.ops = ops
        self.work = work
        self.records: dict[tuple[str, str], Record] = {}
        self.notes: list[str] = []
        self.seen: dict[str, Seen] = {}
        self.sizes: dict[str, tuple[int | None, int | None]] = {}
        self.size_rounds = 0
        self.expected: TreeStats | None = None
        self.synthetic: TreeStats | None = None

    # -- bookkeeping -------------------------------------------------------------------------

    def record(self, op: str, key: str, step: Step, run: int, wrong: str | None = None) -> None:
        rec = self.records.setdefault((op, key), Record())
        m = step.measurement
        if step.missing_command:
            rec.missing_command = True
            log(f"  {op:<12} {key:<10} no such command")
            return
        rec.steps.append(step)
        if not m.ok:
            rec.problems.append(f"run {run + 1}: exit {m.returncode}: {m.last_error_line()}")
        elif wrong:
            rec.problems.append(f"run {run + 1}: wrong result: {wrong}")
        status = "ok" if m.ok and not wrong else "FAILED" if not m.ok else "WRONG"
        log(f"  {op:<12} {key:<10} {m.seconds:8.3f} s  {fmt_mib(m.max_rss_kib):>10}  {status}")

    def checkpointers(self, ops: tuple[str, ...]) -> list[Tool]:
        keys = {k for op in ops for k in LABELS.get(op, {}) if k in CHECKPOINTERS}
        if "rollback" in ops:
            keys |= {"safepoint", "tar"}
        return [t for k, t in self.tools.items() if k in keys]

    def setup(self, tools: list[Tool], site: Path, run_dir: Path) -> list[Tool]:
        ready = []
        for tool in tools:
            try:
                tool.setup(site, run_dir / tool.key)
                ready.append(tool)
            except (RuntimeError, OSError) as exc:
                self.notes.append(f"{tool.label}: setup failed, skipped: {exc}")
                log(f"  {tool.key}: setup failed: {exc}")
        return ready

    # -- the site: timed runs ----------------------------------------------------------------

    def site_runs(self, original: Path, site: Path, runs: int) -> None:
        spec = exclude_spec()
        copy_tree(original, site)
        self.expected = count_tree(site, spec)
        candidates = source_files(site, spec)
        for run in range(runs):
            log(f"[run {run + 1}/{runs}]")
            if run:
                reset_tree(original, site)
            self.one_run(run, site, candidates)

    def one_run(self, run: int, site: Path, candidates: list[str]) -> None:
        run_dir = self.work / "run"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        active = self.setup(self.checkpointers(self.ops), site, run_dir)
        if "rsync" in self.tools:
            self.tools["rsync"].setup(site, run_dir / "rsync")
        base: dict[str, str] = {}
        for tool in active:
            step = tool.checkpoint(self.timer, f"base-{run}")
            self.record("create", tool.key, step, run)
            if step.ok and step.ref:
                base[tool.key] = step.ref
        if run == 0:
            self.check_seen(active, base)
        mirror = run_dir / "mirror"
        rsync = self.tools.get("rsync")
        if "rollback" in self.ops and isinstance(rsync, Rsync):
            rsync.make_mirror(mirror)
        with_base = [t for t in active if t.key in base]
        if "nochange" in self.ops:
            for tool in with_base:
                self.record("nochange", tool.key, tool.checkpoint(self.timer, f"same-{run}"), run)
        edits = EditSet.choose(site, candidates, round=0)
        edits.apply()
        if "edit10" in self.ops:
            for tool in with_base:
                self.record("edit10", tool.key, tool.checkpoint(self.timer, f"edit-{run}"), run)
        if "restore" in self.ops:
            self.restores(run, run_dir, with_base, base)
        if "verify" in self.ops:
            for tool in with_base:
                if tool.key in LABELS["verify"]:
                    self.record("verify", tool.key, tool.verify(self.timer, base[tool.key]), run)
        if "rollback" in self.ops:
            tar = self.tools.get("tar")
            archive = tar.archive(base["tar"]) if isinstance(tar, Tar) and "tar" in base else None
            keys = [k for k in LABELS["rollback"] if k == "rsync" or k in base]
            assert self.expected is not None
            self.rollbacks("rollback", run, site, edits, keys, base, mirror, archive,
                           self.expected)

    def restores(self, run: int, run_dir: Path, tools: list[Tool], base: dict[str, str]) -> None:
        for tool in tools:
            if tool.key not in LABELS["restore"]:
                continue
            dest = run_dir / f"restore-{tool.key}"
            dest.mkdir()
            step = tool.restore(self.timer, base[tool.key], dest)
            wrong = None
            if step.ok:
                got = count_tree(dest)
                if got != self.expected:
                    wrong = f"restored {got}, expected {self.expected}"
            self.record("restore", tool.key, step, run, wrong)
            shutil.rmtree(dest)

    def rollbacks(self, op: str, run: int, site: Path, edits: EditSet, keys: list[str],
                  base: dict[str, str], mirror: Path, archive: Path | None,
                  expected: TreeStats) -> None:
        """Each rollback tool in turn takes the edited tree back to the base checkpoint."""
        for key in keys:
            tool = self.tools.get(key)
            if tool is None:
                continue
            edits.apply()  # idempotent: every tool starts from the same edited tree
            step = tool.rollback(self.timer, base.get(key, ""), mirror, archive)
            wrong = None
            if step.ok:
                left = edits.unrolled()
                got = count_tree(site, exclude_spec())
                if left:
                    wrong = f"{len(left)} of {len(edits.paths)} edited files not rolled back"
                elif got != expected:
                    wrong = f"tree after rollback {got}, expected {expected}"
            self.record(op, key, step, run, wrong)

    def check_seen(self, tools: list[Tool], base: dict[str, str]) -> None:
        assert self.expected is not None
        for tool in tools:
            if tool.key not in base:
                continue
            try:
                self.seen[tool.key] = tool.seen(base[tool.key], self.expected)
            except (RuntimeError, OSError, ValueError, KeyError, tarfile.TarError) as exc:
                self.seen[tool.key] = Seen(f"cannot tell: {exc}", None)

    # -- the site: repository size over N checkpoints ----------------------------------------

    def size_series(self, original: Path, site: Path, rounds: int) -> None:
        log(f"[repository size: {rounds} checkpoints, 10 edited files between them]")
        self.size_rounds = rounds
        reset_tree(original, site)
        run_dir = self.work / "sizes"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        tools = self.setup([t for t in self.checkpointers(("size",))], site, run_dir)
        untimed = Timer(cold=False)
        candidates = source_files(site, exclude_spec())
        after_one: dict[str, int] = {}
        for k in range(rounds):
            if k:
                EditSet.choose(site, candidates, round=k).apply()
            for tool in list(tools):
                step = tool.checkpoint(untimed, f"size-{k}")
                if not step.ok:
                    self.notes.append(f"repository size, {tool.label}: checkpoint {k + 1} failed: "
                                      f"{step.measurement.last_error_line()}")
                    tools.remove(tool)
                elif k == 0:
                    after_one[tool.key] = tool.repo_size()
        for key in LABELS["size"]:
            tool = self.tools.get(key)
            many = tool.repo_size() if tool is not None and tool in tools else None
            self.sizes[key] = (after_one.get(key), many)
            log(f"  size {key:<10} after 1: {after_one.get(key)}  after {rounds}: {many}")
        shutil.rmtree(run_dir, ignore_errors=True)

    # -- the scale test ----------------------------------------------------------------------

    def synthetic_run(self, count: int, peers: tuple[str, ...]) -> None:
        root = self.work / "synthetic"
        site = root / "site"
        log(f"[synthetic tree: {count:,} files]")
        started = time.perf_counter()
        make_synthetic(site, count)
        spec = exclude_spec()
        self.synthetic = count_tree(site, spec)
        self.notes.append(f"synthetic tree: {self.synthetic.files:,} files in "
                          f"{self.synthetic.dirs:,} dirs, {fmt_bytes(self.synthetic.bytes)}, "
                          f"generated in {time.perf_counter() - started:.0f} s")
        run_dir = root / "run"
        wanted = [t for k, t in self.tools.items() if k == "safepoint" or k in peers]
        active = self.setup([t for t in wanted if t.key in CHECKPOINTERS], site, run_dir)
        base: dict[str, str] = {}
        for tool in active:
            step = tool.checkpoint(self.timer, "syn-base")
            self.record("syn-create", tool.key, step, 0)
            if step.ok and step.ref:
                base[tool.key] = step.ref
        mirror = run_dir / "mirror"
        rsync = self.tools.get("rsync")
        keys = ["safepoint"] if "safepoint" in base else []
        if "rsync" in peers and isinstance(rsync, Rsync):
            rsync.setup(site, run_dir / "rsync")
            rsync.make_mirror(mirror)
            keys.append("rsync")
        edits = EditSet.choose(site, source_files(site, spec), round=0)
        edits.apply()
        for tool in active:
            if tool.key in base:
                self.record("syn-edit10", tool.key, tool.checkpoint(self.timer, "syn-edit"), 0)
        self.rollbacks("syn-rollback", 0, site, edits, keys, base, mirror, None, self.synthetic)
        shutil.rmtree(root, ignore_errors=True)

    # -- results -----------------------------------------------------------------------------

    def sections(self, ops: tuple[str, ...]) -> list[Section]:
        out = []
        for op in ops:
            if op not in TITLES:
                continue
            rows = [Row(label, self.records.get((op, key)))
                    for key, label in LABELS[op].items() if key in self.tools or key == "safepoint"]
            if op.startswith("syn-"):  # peers are optional there: show only what ran
                rows = [rows[0], *(r for r in rows[1:] if r.record is not None)]
            if any(r.record for r in rows):
                out.append(Section(TITLES[op], rows))
        return out

    def median(self, op: str, key: str) -> float | None:
        rec = self.records.get((op, key))
        s = rec.seconds() if rec else None
        return s.median if s else None

    def targets(self) -> list[Target]:
        out = []
        for op, peer, limit, text in (
            ("create", "restic", 0.3, "first checkpoint <= 0.3 x restic backup"),
            ("edit10", "restic", 0.1, "checkpoint after 10 edited files <= 0.1 x restic backup"),
            ("rollback", "rsync", 0.25, "rollback of 10 files <= 0.25 x rsync -a --delete"),
            ("restore", "tar", 0.5, "restore --to an empty dir <= 0.5 x tar xzf"),
        ):
            out.append(self._time_target(op, peer, limit, text))
        sp1, spn = self.sizes.get("safepoint", (None, None))
        r1 = self.sizes.get("restic", (None, None))[0]
        n = self.size_rounds
        out.append(Target(f"repository size for {n or 10} checkpoints <= 1.05 x one checkpoint",
                          f"{spn / sp1:.3f} x ({fmt_bytes(spn)} / {fmt_bytes(sp1)})"
                          if sp1 and spn else "no data",
                          spn / sp1 <= 1.05 if sp1 and spn else None))
        out.append(Target("one checkpoint <= restic's repository",
                          f"{sp1 / r1:.3f} x ({fmt_bytes(sp1)} / {fmt_bytes(r1)})"
                          if sp1 and r1 else "no data",
                          sp1 <= r1 if sp1 and r1 else None))
        out.append(self._memory_target())
        return out

    def _time_target(self, op: str, peer: str, limit: float, text: str) -> Target:
        sp, other = self.records.get((op, "safepoint")), self.records.get((op, peer))
        if sp is None or other is None or not sp.good() or not other.good():
            return Target(text, "no data", None)
        a, b = self.median(op, "safepoint"), self.median(op, peer)
        assert a is not None and b is not None
        measured = f"{a / b:.3f} x ({fmt_seconds_pair(a, b)})"
        if sp.problems:
            return Target(text, measured + "; safepoint failed or was wrong in a run", False)
        return Target(text, measured, a / b <= limit)

    def _memory_target(self) -> Target:
        text = ("memory grows with the changed files, not the tree: peak RSS on the synthetic "
                f"tree <= {RSS_GROWTH_LIMIT} x on the site (10-file checkpoint and rollback)")
        parts, met = [], True
        for op in ("edit10", "rollback"):
            site = self.records.get((op, "safepoint"))
            syn = self.records.get((f"syn-{op}", "safepoint"))
            s1 = site.rss_kib() if site else None
            s2 = syn.rss_kib() if syn else None
            if s1 is None or s2 is None:
                parts.append(f"{op}: no data")
                continue
            parts.append(f"{op}: {fmt_mib(s2.median)} vs {fmt_mib(s1.median)} "
                         f"({s2.median / s1.median:.1f} x)")
            met = met and s2.median <= RSS_GROWTH_LIMIT * s1.median
        if all(p.endswith("no data") for p in parts):
            return Target(text, "no data (needs --site and --synthetic)", None)
        assert self.expected is not None and self.synthetic is not None
        trees = f" ({self.synthetic.entries:,} vs {self.expected.entries:,} entries)"
        return Target(text, "; ".join(parts) + trees, met)


def fmt_seconds_pair(a: float, b: float) -> str:
    return f"{a:.3f} s / {b:.3f} s"


# -- command line ----------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--site", type=Path, help="site directory to copy and measure on")
    p.add_argument("--runs", type=int, default=3, help="timed runs per step (default 3)")
    p.add_argument("--work", type=Path, help="work directory (default: a new one under $TMPDIR)")
    p.add_argument("--only", default=",".join(OPS),
                   help=f"comma-separated operations (default all): {','.join(OPS)}")
    p.add_argument("--peers", default=",".join(PEERS),
                   help=f"comma-separated peers (default all): {','.join(PEERS)}")
    p.add_argument("--safepoint", help="the safepoint command (default: found on PATH); "
                   "e.g. OTHER_CHECKOUT/.venv/bin/safepoint to measure that checkout's code")
    p.add_argument("--cache", choices=("auto", "cold", "warm"), default="auto",
                   help="cold: drop the page cache before each timed step; auto: cold if the "
                        "kernel lets us, else warm (default)")
    p.add_argument("--size-checkpoints", type=int, default=10,
                   help="checkpoints in the repository-size series (default 10)")
    p.add_argument("--synthetic", type=int, nargs="?", const=200_000, metavar="N",
                   help="also run the scale test on a synthetic tree of N small files "
                        "(default N: 200000)")
    p.add_argument("--synthetic-peers", default="",
                   help="peers to run on the synthetic tree too (default none)")
    p.add_argument("--write-results", action="store_true", help="write bench/RESULTS.md")
    p.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md",
                   help="where --write-results writes (default bench/RESULTS.md)")
    p.add_argument("--keep-work", action="store_true", help="leave the work directory behind")
    args = p.parse_args(argv)
    args.only = _names(p, "--only", args.only, OPS)
    args.peers = _names(p, "--peers", args.peers, PEERS)
    args.synthetic_peers = _names(p, "--synthetic-peers", args.synthetic_peers, PEERS)
    if args.site is None and args.synthetic is None:
        p.error("give --site DIR, --synthetic [N], or both")
    if args.site is not None and not args.site.is_dir():
        p.error(f"--site {args.site}: not a directory")
    if args.runs < 1 or args.size_checkpoints < 1:
        p.error("--runs and --size-checkpoints must be at least 1")
    return args


def _names(p: argparse.ArgumentParser, flag: str, value: str, allowed: tuple[str, ...]
           ) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in allowed]
    if unknown:
        p.error(f"{flag}: unknown {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return names


def find_safepoint(given: str | None) -> str | None:
    if given:
        return given if shutil.which(given) else None
    found = shutil.which("safepoint")
    if found:
        return found
    beside = Path(sys.executable).parent / "safepoint"  # the venv running us
    return str(beside) if os.access(beside, os.X_OK) else None


def build_tools(args: argparse.Namespace, notes: list[str]) -> tuple[dict[str, Tool],
                                                                     dict[str, str]]:
    tools: dict[str, Tool] = {}
    versions: dict[str, str] = {}
    exe = find_safepoint(args.safepoint)
    candidates: list[Tool] = [Safepoint(exe)] if exe else []
    if not exe:
        notes.append("safepoint: command not found (give --safepoint PATH): safepoint rows "
                     "skipped, peers only")
    wanted = set(args.peers) | set(args.synthetic_peers)
    candidates += [cls() for cls in (Restic, Borg, Tar, Rsync) if cls.key in wanted]
    for tool in candidates:
        missing = tool.missing()
        version = tool.version() if not missing else None
        if missing or version is None:
            notes.append(f"{tool.label}: not installed ({', '.join(missing) or 'no version'}); "
                         "its rows are skipped")
            log(f"{tool.label}: MISSING, skipped")
            continue
        tools[tool.key] = tool
        versions[tool.key] = version
    if "tar" in tools:
        versions["gzip"] = _version_line(["gzip", "--version"])
    return tools, versions


def _version_line(argv: list[str]) -> str:
    return first_line(argv) or "unknown"


def cache_policy(mode: str, notes: list[str]) -> tuple[Timer, str]:
    if mode == "warm":
        return Timer(cold=False), "warm: page cache not dropped (--cache warm), same for every tool"
    failure = try_drop_caches()
    if failure is None:
        return Timer(cold=True), ("cold: `sync; echo 3 > /proc/sys/vm/drop_caches` before every "
                                  "timed step, for every tool")
    if mode == "cold":
        raise SystemExit(f"bench/run.py: --cache cold: cannot drop the page cache: {failure}")
    notes.append(f"could not drop the page cache ({failure}): all timings are warm-cache")
    return Timer(cold=False), f"warm: page cache could not be dropped ({failure}); same for all"


def conditions(args: argparse.Namespace, bench: Bench, cache: str,
               load: tuple[float, float]) -> list[str]:
    lines = []
    if bench.expected is not None:
        e = bench.expected
        lines.append(f"site: {args.site} (copied; original untouched); every tool saw "
                     f"{e.files:,} files, {e.dirs:,} dirs, {e.symlinks:,} symlinks, "
                     f"{fmt_bytes(e.bytes)}")
    lines.append(f"runs: {args.runs} per timed step; medians, min and max shown")
    lines.append(f"cache: {cache}")
    lines.append("file set: everything except " + " ".join(COMMON_EXCLUDES) + " (the venv, "
                 "__pycache__/ and *.pyc included); safepoint via its defaults and "
                 f"safepoint.toml [files] exclude = {list(SAFEPOINT_REINCLUDES)}, repository "
                 "outside the site; peers via their own exclude options")
    restic = bench.tools.get("restic")
    if isinstance(restic, Restic):
        comp = (f"repository version 2, --compression {restic.compression}"
                if restic.compression else "repository version 1 (no compression support)")
        lines.append(f"restic: local repository, {comp}, RESTIC_PASSWORD set (restic always "
                     "encrypts), --host fixed so the parent snapshot is found")
    if "borg" in bench.tools:
        lines.append(f"borg: --encryption none, --compression {Borg.compression} (borg 1.2's "
                     "default), fresh BORG_BASE_DIR (files and chunks cache) per run")
    if "tar" in bench.tools:
        lines.append("tar: tar czf (gzip -6), .sha256 written untimed after each archive; "
                     "seed-style rollback = tar xzf of the base archive over the site")
    if "rsync" in bench.tools:
        lines.append("rsync: mirror = copy of the tree at the base checkpoint, made untimed")
    lines.append(f"load average (1 min) before/after: {load[0]:.2f} / {load[1]:.2f}")
    return lines


def seen_lines(bench: Bench) -> list[str]:
    if not bench.seen or bench.expected is None:
        return []
    e = bench.expected
    lines = ["What each tool stored in the first checkpoint (run 1):",
             f"  {'expected':<10} files={e.files:,} dirs={e.dirs:,} links={e.symlinks:,} "
             f"bytes={e.bytes:,}"]
    for key, seen in bench.seen.items():
        verdict = {True: "match", False: "MISMATCH", None: "?"}[seen.matches]
        lines.append(f"  {key:<10} {seen.description}  [{verdict}]")
    return lines


def memory_lines(bench: Bench) -> list[str]:
    rows = [(TITLES[op].split(None, 1)[1] + (" (synthetic)" if op.startswith("syn") else ""),
             bench.records.get((op, "safepoint")))
            for op in ("create", "edit10", "nochange", "rollback", "restore", "verify",
                       "syn-create", "syn-edit10", "syn-rollback")]
    rows = [(t, r) for t, r in rows if r is not None and r.rss_kib() is not None]
    if not rows:
        return []
    lines = ["7  peak RSS of each safepoint operation (median, min-max):"]
    for title, rec in rows:
        m = rec.rss_kib()
        assert m is not None
        lines.append(f"  {title:<44} {fmt_mib(m.median):>10}  ({fmt_mib(m.low)} - "
                     f"{fmt_mib(m.high)})")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    notes: list[str] = []
    tools, versions = build_tools(args, notes)
    if "safepoint" in tools:
        sp = tools["safepoint"]
        assert isinstance(sp, Safepoint)
        # The path says which install (which checkout) was measured: every one is 0.1.0.
        version = _version_line([sp.exe, "--version"])
        versions = {"safepoint": f"{version} ({shutil.which(sp.exe) or sp.exe})", **versions}
    timer, cache = cache_policy(args.cache, notes)
    own_work = args.work is None
    work = Path(tempfile.mkdtemp(prefix="safepoint-bench-")) if own_work else args.work
    work = work.resolve()
    if args.site is not None:
        site_abs = args.site.resolve()
        if work == site_abs or site_abs in work.parents or work in site_abs.parents:
            raise SystemExit("bench/run.py: --work must be outside --site and not contain it")
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    bench = Bench(tools=tools, timer=timer, ops=args.only, work=work)
    started = time.perf_counter()
    try:
        if args.site is not None:
            site = work / "site"
            bench.site_runs(args.site.resolve(), site, args.runs)
            if "size" in args.only:
                bench.size_series(args.site.resolve(), site, args.size_checkpoints)
        if args.synthetic is not None:
            bench.synthetic_run(args.synthetic, args.synthetic_peers)
    finally:
        if not args.keep_work:
            for sub in ("site", "run", "sizes", "synthetic"):
                shutil.rmtree(work / sub, ignore_errors=True)
            if own_work:
                shutil.rmtree(work, ignore_errors=True)
    load = (load_before, os.getloadavg()[0])
    given = sys.argv[1:] if argv is None else argv
    bench.notes[:0] = [f"command: python bench/run.py {' '.join(given)}", *notes]
    bench.notes += [
        f"peak RSS: the tool's own process, by {rss_method()}; tar's gzip child is not counted",
        "tar and rsync do not fsync what they write; safepoint (by design), restic and borg do",
        f"total benchmark time {time.perf_counter() - started:.0f} s",
    ]
    for (op, key), rec in sorted(bench.records.items()):
        bench.notes += [f"{TITLES.get(op, op)} / {key}: {p}" for p in rec.problems]

    header = conditions(args, bench, cache, load)
    ops = tuple(o for o in (*OPS, "syn-create", "syn-edit10", "syn-rollback")
                if o in args.only or o.startswith("syn"))
    table = timing_table(bench.sections(ops))
    if bench.sizes:
        table += ["", *size_table("5  repository size (du -sb)",
                                  [(LABELS["size"][k], *bench.sizes[k])
                                   for k in LABELS["size"] if k in bench.sizes],
                                  bench.size_rounds)]
    extra = memory_lines(bench)
    table += ["", *extra] if extra else []
    seen = seen_lines(bench)
    table += ["", *seen] if seen else []
    targets = bench.targets()

    print("safepoint benchmark")
    print(*(f"  {line}" for line in header), sep="\n")
    print()
    print(*table, sep="\n")
    print()
    print("Targets (DESIGN.md):")
    print(*targets_lines(targets), sep="\n")
    if bench.notes:
        print()
        print("Notes:")
        print(*(f"  - {n}" for n in bench.notes), sep="\n")
    if args.write_results:
        path = args.results
        path.write_text(results_markdown(header=header, table=table, targets=targets,
                                         versions=versions, notes=bench.notes))
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
