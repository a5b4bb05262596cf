"""What ``/proc`` says about a gunicorn master: is it running, which workers it has, when they
started, and whether it preloads the app.

gunicorn (sync or threaded workers) is a master process that forks its workers; each worker
imports the app, so the code a worker runs is the code on disk when *that worker* started. On
SIGHUP the master (``Arbiter.reload``) forks ``workers`` new workers first and then sends the
oldest ones SIGTERM (``manage_workers``); the old workers finish their request and exit. Until
they have, a request may still be served by the old code. So "reloaded" means: every worker
that existed before the HUP has exited and the expected number of new ones run.

With ``--preload`` (``preload_app = True``) the app is imported once, in the master, and the
workers are forks of it: a HUP forks new workers from a master that still holds the old
modules, so it reloads nothing. Such a master must be restarted instead.

Linux only (``/proc``). Reading another user's ``/proc/PID/environ`` fails; what cannot be read
counts as absent.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    state: str
    ppid: int
    started_ns: int
    """Wall-clock start time (ns since the epoch), to the kernel's clock tick (10 ms)."""


def read_pid(path: Path) -> int | None:
    """The pid in a pid file; None when the file is missing or holds no number."""
    try:
        return int(path.read_text(encoding="ascii", errors="replace").strip())
    except (OSError, ValueError):
        return None


def proc_info(pid: int) -> ProcInfo | None:
    """``/proc/PID/stat``: None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces or ")".
    fields = text.rsplit(")", 1)[1].split()
    ticks = int(fields[19])  # field 22, starttime: clock ticks after boot
    boot_ns = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    return ProcInfo(pid, fields[0], int(fields[1]), boot_ns + ticks * 1_000_000_000 // _TICKS)


def is_running(pid: int) -> bool:
    """Alive and not a zombie: an exited master stays a zombie until its parent reaps it, and
    ``kill(pid, 0)`` still succeeds on one."""
    info = proc_info(pid)
    return info is not None and info.state not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [os.fsdecode(arg) for arg in raw.split(b"\0") if arg]


def is_gunicorn(pid: int) -> bool:
    """The process runs gunicorn: ``gunicorn ...``, ``python -m gunicorn ...``, or a process
    title set by setproctitle (``gunicorn: master [app]``)."""
    args = cmdline(pid)
    if not args:
        return False
    if args[0].startswith("gunicorn:"):
        return True
    for i, arg in enumerate(args[:3]):
        if os.path.basename(arg).startswith("gunicorn"):
            return True
        if arg == "-m" and i + 1 < len(args) and args[i + 1] == "gunicorn":
            return True
    return False


def is_gunicorn_master(pid: int) -> bool:
    """A gunicorn process whose parent is not gunicorn (a worker has the master's command
    line, but its parent is the master)."""
    info = proc_info(pid)
    if info is None or not is_gunicorn(pid):
        return False
    return info.ppid <= 1 or not is_gunicorn(info.ppid) or cmdline(info.ppid) != cmdline(pid)


def children(pid: int) -> dict[int, ProcInfo]:
    """Running children of ``pid`` (for a gunicorn master: its workers)."""
    found: dict[int, ProcInfo] = {}
    for child in _child_pids(pid):
        info = proc_info(child)
        if info is not None and info.ppid == pid and info.state not in ("Z", "X"):
            found[info.pid] = info
    return found


def _child_pids(pid: int) -> list[int]:
    """From ``/proc/PID/task/*/children`` (a few reads, polled every 50 ms during a reload);
    on a kernel without it, every process in ``/proc`` is a candidate."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        return [
            int(child)
            for task in tasks
            for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        ]
    except FileNotFoundError:
        if not Path(f"/proc/{pid}").exists():
            return []
    except (OSError, ValueError):
        pass
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def option(args: list[str], short: str | None, long: str) -> str | None:
    """The value of ``-w 2`` / ``-w2`` / ``--workers 2`` / ``--workers=2`` in a command line."""
    for i, arg in enumerate(args):
        if arg == long or (short and arg == short):
            return args[i + 1] if i + 1 < len(args) else None
        if arg.startswith(long + "="):
            return arg[len(long) + 1 :]
        if short and arg.startswith(short) and not arg.startswith("--") and len(arg) > 2:
            return arg[2:]
    return None


def configured_workers(pid: int) -> int | None:
    """``-w/--workers`` from the master's command line, or ``--workers`` in its
    ``GUNICORN_CMD_ARGS``; None when it says nothing (a config file may)."""
    for args in (cmdline(pid), shlex.split(_environ(pid).get("GUNICORN_CMD_ARGS", ""))):
        value = option(args, "-w", "--workers")
        if value is not None and value.isdigit() and int(value) > 0:
            return int(value)
    return None


_PRELOAD_SETTING = re.compile(rb"^\s*preload_app\s*=\s*True\b", re.MULTILINE)


def preloads(pid: int) -> bool:
    """The master imported the app itself (``--preload``, on its command line, in
    ``GUNICORN_CMD_ARGS``, or ``preload_app = True`` in its config file)."""
    args = cmdline(pid)
    if "--preload" in args or "--preload" in _environ(pid).get("GUNICORN_CMD_ARGS", "").split():
        return True
    config = option(args, "-c", "--config") or "gunicorn.conf.py"
    if config.startswith("python:"):
        return False  # a module: not a file we can read
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        return bool(_PRELOAD_SETTING.search((Path(cwd) / config).read_bytes()))
    except OSError:
        return False


def working_dir(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (os.fsdecode(item).partition("=") for item in raw.split(b"\0") if b"=" in item)
    return {key: value for key, _, value in pairs}


@dataclass(frozen=True)
class FoundMaster:
    """A running gunicorn master of a site, as ``safepoint init`` describes it in ``[app]``."""

    pid: int
    cwd: Path
    args: list[str]

    def pidfile(self) -> str | None:
        """Its ``-p/--pid`` (or ``pidfile =`` in its config file), as given."""
        value = option(self.args, "-p", "--pid")
        if value is None:
            config = option(self.args, "-c", "--config") or "gunicorn.conf.py"
            try:
                text = (self.cwd / config).read_text(errors="replace")
            except OSError:
                return None
            match = re.search(r"""^\s*pidfile\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
            value = match.group(1) if match else None
        return value

    def bind(self) -> str:
        return option(self.args, "-b", "--bind") or "127.0.0.1:8000"

    def start(self, *, pidfile: str | None) -> str:
        """Its command line, made to detach (``-D``) and to write ``pidfile`` if it did not."""
        args = list(self.args)
        if "-D" not in args and "--daemon" not in args:
            args.append("-D")
        if pidfile is not None and option(args, "-p", "--pid") is None:
            args += ["-p", pidfile]
        return shlex.join(args)


def masters_in(root: Path) -> list[FoundMaster]:
    """Running gunicorn masters whose working directory is ``root`` or inside it."""
    found: list[FoundMaster] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        pid = int(name)
        cwd = working_dir(pid)
        if cwd is None or not (cwd == root or root in cwd.parents):
            continue
        if is_gunicorn_master(pid) and is_running(pid):
            found.append(FoundMaster(pid, cwd, cmdline(pid)))
    return sorted(found, key=lambda m: m.pid)
