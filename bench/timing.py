"""Running one timed step: wall-clock seconds and the peak RSS of the child, one process at a time.

Every timed step goes through :class:`Timer`, which first flushes dirty pages (``sync``) so that
one step's writeback is not billed to the next, and in cold-cache mode drops the page cache, so
every tool starts from the same state.

Peak memory is the tool process's ``ru_maxrss`` (grandchildren such as ``gzip`` under ``tar z``
are not included). Linux keeps a process's peak RSS across ``execve`` and a forked child starts
with its parent's resident pages, so ``os.wait4`` on a child forked from this (20+ MiB) Python
process reports at least this process's size. When GNU time is installed the tool is therefore
started by ``/usr/bin/time``, a 1 MiB process, and its ``%M`` (the same ``wait4`` figure, taken
one level down) is used; otherwise ``os.wait4`` here, with that floor.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DROP_CACHES = Path("/proc/sys/vm/drop_caches")
GNU_TIME = Path("/usr/bin/time")


def rss_method() -> str:
    if _gnu_time():
        return "GNU time %M (wait4 of the tool, forked from /usr/bin/time)"
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (f"os.wait4 from the runner: includes the runner's {own:.0f} MiB at fork as a floor "
            "(install GNU time for exact figures)")


def _gnu_time() -> bool:
    return os.access(GNU_TIME, os.X_OK)


@dataclass(frozen=True)
class Measurement:
    """One finished process: how long it took, how much memory it peaked at, what it said."""

    argv: tuple[str, ...]
    seconds: float
    max_rss_kib: int
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def last_error_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1].strip() if lines else f"exit status {self.returncode}"


def run_measured(argv: Sequence[str], *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None) -> Measurement:
    """Run ``argv`` to completion; stdout and stderr go to files so a chatty tool cannot block."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss:
        wrapped = ([str(GNU_TIME), "-f", "%M", "-o", rss.name, "--", *argv] if _gnu_time()
                   else list(argv))
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(wrapped, cwd=cwd, env=dict(env) if env else None,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        except OSError as exc:
            return Measurement(tuple(argv), 0.0, 0, 127, "", f"{argv[0]}: {exc.strerror}")
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
        max_rss = usage.ru_maxrss
        if _gnu_time():
            # The last line is %M; GNU time puts "Command exited with non-zero status" before it.
            lines = rss.read().split()
            max_rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
        out.seek(0)
        err.seek(0)
        return Measurement(
            argv=tuple(argv),
            seconds=seconds,
            max_rss_kib=max_rss,
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def try_drop_caches() -> str | None:
    """Drop the page cache; return None on success, else the reason it could not be done."""
    os.sync()
    try:
        DROP_CACHES.write_text("3\n")
    except OSError as exc:
        return f"{DROP_CACHES}: {exc.strerror or exc}"
    return None


class Timer:
    """Runs timed steps under one cache policy: ``cold`` drops the page cache before each step."""

    def __init__(self, *, cold: bool) -> None:
        self.cold = cold

    def prepare(self) -> None:
        os.sync()
        if self.cold and try_drop_caches() is not None:
            # It worked at start-up; if it stops working mid-run, the results are not comparable.
            raise RuntimeError("dropping the page cache stopped working during the run")

    def run(self, argv: Sequence[str], *, cwd: Path | None = None,
            env: Mapping[str, str] | None = None) -> Measurement:
        self.prepare()
        return run_measured(argv, cwd=cwd, env=env)


def run_quiet(argv: Sequence[str], *, cwd: Path | None = None,
              env: Mapping[str, str] | None = None, check: bool = True) -> Measurement:
    """An untimed helper step (setup, listing); raises on failure when ``check``."""
    m = run_measured(argv, cwd=cwd, env=env)
    if check and not m.ok:
        raise RuntimeError(f"{' '.join(argv)}: {m.last_error_line()}")
    return m


@dataclass(frozen=True)
class Summary:
    """Median, min and max of one measured quantity over the runs."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary | None:
        if not values:
            return None
        return cls(statistics.median(values), min(values), max(values), len(values))
