"""Turning measurements into the plain-text table on stdout and ``bench/RESULTS.md``."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from peers import Step
from timing import Summary


@dataclass
class Record:
    """All runs of one operation by one tool."""

    steps: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # failed runs, wrong results
    missing_command: bool = False

    def good(self) -> list[Step]:
        return [s for s in self.steps if s.ok]

    def seconds(self) -> Summary | None:
        return Summary.of([s.measurement.seconds for s in self.good()])

    def rss_kib(self) -> Summary | None:
        return Summary.of([s.measurement.max_rss_kib for s in self.good()])

    def valid(self) -> bool:
        """Timed and correct in every run it was attempted in."""
        return bool(self.good()) and not self.problems and not self.missing_command


@dataclass(frozen=True)
class Row:
    label: str
    record: Record | None  # None: the tool is not installed or not selected


@dataclass(frozen=True)
class Section:
    title: str
    rows: list[Row]  # the first row is safepoint's


@dataclass(frozen=True)
class Target:
    text: str
    measured: str
    met: bool | None  # None: not measured


def fmt_seconds(x: float) -> str:
    return f"{x:.3f} s" if x < 100 else f"{x:.1f} s"


def fmt_mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n:,} B" if unit == "B" else f"{n:,} B ({size:.1f} {unit})"
        size /= 1024
    raise AssertionError("unreachable")


def ratio(a: float | None, b: float | None) -> str:
    if a is None or not b:
        return ""
    return f"{a / b:.3f}" if a / b < 10 else f"{a / b:.1f}"


def _status(record: Record | None) -> str:
    if record is None:
        return "not run (tool missing or not selected)"
    if record.missing_command:
        return "n/a: safepoint has no such command yet"
    if not record.good():
        return f"FAILED: {record.problems[0] if record.problems else 'no result'}"
    return ""


def timing_table(sections: Sequence[Section]) -> list[str]:
    head = (f"{'operation':<34} {'tool':<34} {'median':>10} {'min':>10} {'max':>10} "
            f"{'sp/tool':>8} {'peak RSS':>10}")
    lines = [head, "-" * len(head)]
    for section in sections:
        sp = section.rows[0].record
        sp_median = sp.seconds().median if sp is not None and sp.valid() else None
        for i, row in enumerate(section.rows):
            title = section.title if i == 0 else ""
            status = _status(row.record)
            if status:
                lines.append(f"{title:<34} {row.label:<34} {status}")
                continue
            assert row.record is not None
            t, m = row.record.seconds(), row.record.rss_kib()
            assert t is not None and m is not None
            r = "" if i == 0 else ratio(sp_median, t.median)
            flag = "  (!) see notes" if row.record.problems else ""
            lines.append(f"{title:<34} {row.label:<34} {fmt_seconds(t.median):>10} "
                         f"{fmt_seconds(t.low):>10} {fmt_seconds(t.high):>10} {r:>8} "
                         f"{fmt_mib(m.median):>10}{flag}")
    return lines


def size_table(title: str, rows: Sequence[tuple[str, int | None, int | None]],
               n: int) -> list[str]:
    """Repository size after 1 and after ``n`` checkpoints; ratios against safepoint's row."""
    head = (f"{title:<34} {'tool':<22} {'after 1':>26} {f'after {n}':>26} "
            f"{f'{n}/1':>7} {'sp/tool 1':>10} {f'sp/tool {n}':>10}")
    lines = [head, "-" * len(head)]
    sp1, spn = rows[0][1], rows[0][2]
    for i, (label, one, many) in enumerate(rows):
        if one is None or many is None:
            lines.append(f"{'':<34} {label:<22} not measured")
            continue
        r1 = "" if i == 0 else ratio(sp1, one)
        rn = "" if i == 0 else ratio(spn, many)
        lines.append(f"{'':<34} {label:<22} {fmt_bytes(one):>26} {fmt_bytes(many):>26} "
                     f"{ratio(many, one):>7} {r1:>10} {rn:>10}")
    return lines


def targets_lines(targets: Sequence[Target]) -> list[str]:
    lines = []
    for t in targets:
        verdict = {True: "MET", False: "NOT MET", None: "not measured"}[t.met]
        lines.append(f"  [{verdict:^12}] {t.text}: {t.measured}")
    return lines


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
            mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpus (nproc)": str(os.cpu_count()),
        "cpu model": cpu,
        "memory": mem,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
    }


def results_markdown(*, header: Sequence[str], table: Sequence[str],
                     targets: Sequence[Target], versions: dict[str, str],
                     notes: Sequence[str]) -> str:
    out = ["# safepoint benchmark results", "",
           f"Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}. "
           "Produced by `python bench/run.py --write-results`; see `bench/README.md` for what "
           "each row means.", "", "## Machine", ""]
    out += [f"- {k}: {v}" for k, v in machine_info().items()]
    out += ["", "## Tools", ""]
    out += [f"- {k}: {v}" for k, v in versions.items()]
    out += ["", "## Conditions", ""]
    out += [f"- {line}" for line in header]
    out += ["", "## Targets (DESIGN.md, \"Performance targets\")", "",
            "| target | measured | verdict |", "|---|---|---|"]
    for t in targets:
        verdict = {True: "met", False: "**not met**", None: "not measured"}[t.met]
        out.append(f"| {t.text} | {t.measured} | {verdict} |")
    out += ["", "## Table", "", "```", *table, "```", ""]
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out)
