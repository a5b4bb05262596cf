"""Who holds the repository's write lock: the holder writes its pid, command line and start
time into the ``lock`` file it holds ``flock`` on, so that a process that finds the repository
locked can say by whom.

The flock is the truth; this text is advisory. A holder killed with -9 leaves its text behind,
so the text is only shown while the lock is actually held and its pid is alive; the next holder
replaces it. No fsync: after a power loss the lock is free anyway.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from datetime import datetime

MAX_COMMAND = 200


def claim(fd: int) -> None:
    """Record this process as the holder of the lock ``fd`` (held)."""
    argv = [os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:]]
    command = shlex.join(argv)
    if len(command) > MAX_COMMAND:
        command = command[: MAX_COMMAND - 3] + "..."
    doc = {"pid": os.getpid(), "command": command, "since": datetime.now().astimezone().isoformat()}
    data = json.dumps(doc).encode() + b"\n"
    with contextlib.suppress(OSError):  # advisory: a full disk must not stop the lock's holder
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)


def release(fd: int) -> None:
    """Forget the holder before the lock is let go (a killed holder skips this: see above)."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)


def describe_holder(fd: int) -> str:
    """``pid 1234 (safepoint rollback ...) since 14:02:11``, or a plain phrase when the lock file
    says nothing usable (a holder from an older version, or one that just took it)."""
    try:
        doc = json.loads(os.pread(fd, 4096, 0))
        pid, command = int(doc["pid"]), str(doc["command"])
        since = datetime.fromisoformat(doc["since"]).astimezone()
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        return "another safepoint process"
    if not _alive(pid):
        return "another safepoint process"
    today = datetime.now().astimezone().date()
    when = f"{since:%H:%M:%S}" if since.date() == today else f"{since:%Y-%m-%d %H:%M:%S}"
    return f"pid {pid} ({command}) since {when}"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    except OverflowError:
        return False
    return True
