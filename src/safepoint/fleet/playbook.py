"""Running the shipped playbooks with the venv's ``ansible-playbook``: the collection on the
collections path, the results callback on, each host's result written into the run's folder.

A controller killed with ``kill -9`` takes ``ansible-playbook`` with it (the parent-death signal),
so no batch goes on unwatched after the command that would stop and undo it is gone.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from safepoint.errors import OperationalError

COLLECTIONS_PATH = Path(__file__).resolve().parent
"""The folder holding ``ansible_collections/safepoint/fleet``: Ansible's collections path."""
COLLECTION = COLLECTIONS_PATH / "ansible_collections" / "safepoint" / "fleet"
PLAYBOOKS = COLLECTION / "playbooks"
CALLBACK = "safepoint.fleet.results"
RESULTS_ENV = "SAFEPOINT_FLEET_RESULTS"
_PR_SET_PDEATHSIG = 1


def ansible_playbook() -> str:
    """The ``ansible-playbook`` installed beside this Python (``safepoint[fleet]``), else PATH's."""
    beside = Path(sys.executable).with_name("ansible-playbook")
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if found is None:
        raise OperationalError(
            "ansible-playbook not found: install the fleet extra (pip install 'safepoint[fleet]')"
        )
    return found


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the child outlives a killed controller
        pass


def _joined(*parts: str | None, sep: str) -> str:
    return sep.join(p for p in parts if p)


def run_playbook(
    name: str,
    *,
    inventory: Path,
    folder: Path,
    extra_vars: dict[str, Any],
    limit: str | None = None,
) -> int:
    """Run ``playbooks/<name>.yml``; its output goes to ``<folder>/ansible-<name>.log``, each
    safepoint task's result to ``<folder>/<command>-<host>.json``. Returns its exit code."""
    vars_file = folder / f"vars-{name}.json"
    vars_file.write_text(json.dumps(extra_vars))
    argv = [ansible_playbook(), "-i", str(inventory), "-e", f"@{vars_file}"]
    if limit:
        argv += ["--limit", limit]
    argv.append(str(PLAYBOOKS / f"{name}.yml"))
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_COLLECTIONS_PATH": _joined(
                str(COLLECTIONS_PATH), os.environ.get("ANSIBLE_COLLECTIONS_PATH"), sep=os.pathsep
            ),
            "ANSIBLE_CALLBACKS_ENABLED": _joined(
                CALLBACK, os.environ.get("ANSIBLE_CALLBACKS_ENABLED"), sep=","
            ),
            RESULTS_ENV: str(folder),
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "1",
        }
    )
    log = folder / f"ansible-{name}.log"
    try:
        with open(log, "ab") as out:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,
                check=False,
            )
    except OSError as exc:
        raise OperationalError(f"cannot run {argv[0]}: {exc}") from None
    return proc.returncode


def log_tail(folder: Path, name: str, lines: int = 5) -> str:
    """The last lines ansible-playbook printed that say what went wrong."""
    try:
        text = (folder / f"ansible-{name}.log").read_text(errors="replace")
    except OSError:
        return ""
    wanted = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("PLAY")]
    return " | ".join(wanted[-lines:])
