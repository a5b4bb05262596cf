#!/usr/bin/python
"""The ``safepoint.fleet.safepoint`` Ansible module: runs the host's own ``safepoint`` with
``--json`` in the site root and returns its document.

Ansible copies this file to each host and runs it there as a standalone script, so it uses only
the standard library and ``ansible.module_utils``; it is no part of the ``safepoint`` import graph
(the host's safepoint is a separate program, run as a subprocess).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: safepoint
short_description: Run safepoint (checkpoints and verified rollback) on a host
description:
  - Runs the host's C(safepoint) command with C(--json) in the site root and returns its
    JSON document as C(result).
  - C(rollback) is idempotent; a host whose tree already matches REF reports ok, not changed
    (unless C(with_db) asks for the database too, which is then restored to REF's snapshot).
  - In check mode, C(rollback) runs C(safepoint rollback REF --dry-run) and changes nothing.
options:
  command:
    description:
      - C(show), C(verify), C(list), C(status), C(health), C(create), C(rollback) run the
        safepoint command of that name.
      - C(preflight) checks, changing nothing, that C(ref) can be rolled back to (the
        repository is reachable, C(ref) resolves and verifies, no recovery is pending, the
        migration check passes); C(before) returns the checkpoint that the tree matches,
        creating one when it matches none (with C(with_db), always one that holds a snapshot
        of the database); C(undo) finishes a pending recovery and rolls back to C(ref) (the
        checkpoint the host was at before a fleet run), with C(with_db) or C(migrate) putting
        the database back too.
    required: true
    type: str
    choices: [show, verify, list, status, health, create, rollback, preflight, before, undo]
  ref:
    description: The checkpoint (id, prefix, label, latest, good).
    type: str
  root:
    description: The site root (default the remote user's current directory).
    type: path
  executable:
    description: The host's safepoint command.
    type: str
    default: safepoint
  label:
    description: The label of the checkpoint C(create) makes.
    type: str
  migrate:
    description:
      - Pass C(--migrate) to the rollback (reverse the database's newer migrations; for
        C(undo), apply the migrations of the code put back).
    type: bool
    default: false
  with_db:
    description:
      - Pass C(--with-db) to the rollback (restore the database snapshot too); C(before) then
        snapshots the database, and C(undo) restores that snapshot.
    type: bool
    default: false
  recover:
    description:
      - For C(preflight), C(rollback) and C(undo), first finish a rollback that was interrupted
        on the host (C(safepoint recover)); without it a pending recovery is a failure.
    type: bool
    default: false
  lock_wait:
    description:
      - Seconds to wait while another host holds the shared repository's write lock (a
        rollback holds it until its health is proven), before failing.
    type: float
    default: 600
author: safepoint
"""

EXAMPLES = r"""
- name: Roll the site back
  safepoint.fleet.safepoint:
    command: rollback
    ref: day2-stable
    root: /var/www/eventsite
"""

RETURN = r"""
result:
  description: safepoint's JSON document (for rollback, its summary with safety and health).
  type: dict
  returned: always
exit_code:
  description: safepoint's exit code (0 ok, 2 usage/reference, 3 integrity, 4 unhealthy).
  type: int
  returned: always
"""

LOCK_POLL = 0.25  # seconds between attempts while another host holds the repository's lock
READ_ONLY = ("show", "verify", "list", "status", "health")


class Failed(Exception):
    """A safepoint run that did not succeed: its exit code, its message, its document."""

    def __init__(self, msg: str, exit_code: int, result: Any = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.exit_code = exit_code
        self.result = result


class Host:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        p = module.params
        self.root = p["root"] or os.getcwd()
        found = module.get_bin_path(p["executable"]) if os.sep not in p["executable"] else None
        self.executable = found or p["executable"]
        if not os.access(self.executable, os.X_OK):
            module.fail_json(
                msg=f"safepoint: {p['executable']} not found on the host (module option "
                "executable, inventory variable safepoint_executable)",
                exit_code=127,
                result=None,
                root=self.root,
            )
        self.lock_wait = float(p["lock_wait"])
        self.runs: list[dict[str, Any]] = []

    def run(self, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[int, Any]:
        argv = [self.executable, *args, "--root", self.root, "--json"]
        # Hosts of one site share one repository, and a rollback holds its write lock until
        # its health is proven: the hosts of a batch take turns rather than fail.
        deadline = time.monotonic() + self.lock_wait
        while True:
            rc, out, err = self.module.run_command(argv, cwd=self.root)
            try:
                doc = json.loads(out) if out.strip() else None
            except ValueError:
                doc = None
            locked = isinstance(doc, dict) and doc.get("kind") == "locked"
            if not locked or time.monotonic() >= deadline:
                break
            time.sleep(LOCK_POLL)
        self.runs.append({"argv": argv, "rc": rc})
        if rc not in ok:
            lines = [ln for ln in err.splitlines() if ln.startswith("safepoint: ")]
            msg = lines[-1] if lines else (err.strip() or out.strip() or f"exit {rc}")
            raise Failed(msg, rc, doc)
        return rc, doc

    def checkpoint_id(self, ref: str) -> str:
        return str(self.run("show", ref)[1]["id"])

    def status(self) -> dict[str, Any]:
        return dict(self.run("status")[1])

    def recover_if_pending(self) -> dict[str, Any] | None:
        if self.status().get("pending_recovery") is None:
            return None
        return dict(self.run("recover")[1])


def rollback_flags(p: dict[str, Any]) -> list[str]:
    return [flag for flag, on in (("--migrate", p["migrate"]), ("--with-db", p["with_db"])) if on]


def preflight(host: Host, p: dict[str, Any], ref: str) -> dict[str, Any]:
    """Every check that a fleet rollback makes before any host changes; collects all problems
    rather than stopping at the first, so that the refusal names them all."""
    problems: list[str] = []
    doc: dict[str, Any] = {"problems": problems}
    try:
        if p["recover"]:
            doc["recovered"] = host.recover_if_pending()
        status = host.status()
    except Failed as exc:  # the site or its repository cannot be opened
        raise Failed(exc.msg, exc.exit_code, {"problems": [exc.msg]}) from None
    doc.update(before=status.get("from"), clean=status.get("clean"))
    if status.get("pending_recovery") is not None:
        problems.append(f"a rollback was interrupted here: {status['pending_recovery']}")
    try:
        doc["id"] = host.checkpoint_id(ref)
    except Failed as exc:
        problems.append(exc.msg)
        raise Failed("; ".join(problems), exc.exit_code, doc) from None
    try:
        verified = host.run("verify", doc["id"])[1]
        doc["verified"] = True
    except Failed as exc:
        doc["verified"] = False
        verified = exc.result or {}
        problems.append(f"verify {ref} failed: {exc.msg}")
    doc["damaged"] = verified.get("damaged") if isinstance(verified, dict) else None
    if not problems:  # the dry run checks migrations and damage the way the rollback will
        try:
            plan = host.run("rollback", doc["id"], "--dry-run", *rollback_flags(p))[1]
            doc["would_change"] = changes(plan) > 0
        except Failed as exc:
            problems.append(exc.msg)
    if problems:
        raise Failed("; ".join(problems), 2, doc)
    return doc


def changes(summary: dict[str, Any]) -> int:
    keys = ("written", "removed", "created_dirs", "restamped")
    return sum(int(summary.get(k) or 0) for k in keys)


def rollback(
    host: Host, p: dict[str, Any], ref: str, check_mode: bool, *, undo: bool = False
) -> tuple[bool, Any]:
    """(changed, document). A host whose tree already matches ``ref`` is left alone: no safety
    checkpoint, no reload."""
    recovered = host.recover_if_pending() if p["recover"] else None
    target = host.checkpoint_id(ref)
    status = host.status()
    already = {"target": target, "already": True, "recovered": recovered}
    clean = status.get("pending_recovery") is None and status.get("clean")
    if clean and status.get("from") == target and not p["with_db"]:
        return False, already  # (with the database asked for, the files alone do not say)
    if clean and undo and not check_mode and not p["with_db"]:
        # Put back: a host that undid itself is at its safety checkpoint, which holds the
        # tree it started from; nothing to write, and its health was proven there. (The
        # database host of a --with-db run is asked for its database back: it goes on.)
        plan = host.run("rollback", target, "--dry-run", *rollback_flags(p))[1]
        if changes(plan) == 0:
            return False, already
    # Forward, a tree of REF's content under another checkpoint (a host killed after its
    # switch, before it recorded REF) still goes through the rollback: it writes nothing,
    # but the host proves its health at REF and records REF as the checkpoint it matches, so
    # that status, the fleet report and a second run agree that the host is at REF.
    if check_mode:
        plan = host.run("rollback", target, "--dry-run", *rollback_flags(p))[1]
        return changes(plan) > 0, plan
    doc = host.run("rollback", target, "--yes", *rollback_flags(p))[1]
    doc["recovered"] = recovered
    return True, doc


def before(host: Host, ref: str | None, p: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """The checkpoint the tree matches now, made when it matches none: where ``undo`` will
    bring the host back to. Written to the fleet journal before the host changes. On the host
    that runs the database steps, ``database`` says how its undo puts the database back: from
    this checkpoint's snapshot (``with_db``: always a new checkpoint, the snapshot taken now),
    or by applying the migrations of the code put back (``migrate``)."""
    database = "with_db" if p["with_db"] else "migrate" if p["migrate"] else None
    status = host.status()
    # "clean" allows files whose mtime alone differs: going back to that checkpoint would
    # restamp them, so such a tree gets a checkpoint of its own too
    exact = status.get("clean") and not status.get("touched")
    if exact and status.get("from") and database != "with_db":
        return False, {"before": status["from"], "created": False, "database": database}
    label = "fleet: before rollback" + (f" to {ref}" if ref else "")
    snapshot = ["--with-db"] if database == "with_db" else []
    made = host.run("create", "--label", label, *snapshot)[1]
    return True, {"before": made["id"], "created": True, "database": database}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "command": {
                "type": "str",
                "required": True,
                "choices": [*READ_ONLY, "create", "rollback", "preflight", "before", "undo"],
            },
            "ref": {"type": "str"},
            "root": {"type": "path"},
            "executable": {"type": "str", "default": "safepoint"},
            "label": {"type": "str"},
            "migrate": {"type": "bool", "default": False},
            "with_db": {"type": "bool", "default": False},
            "recover": {"type": "bool", "default": False},
            "lock_wait": {"type": "float", "default": 600.0},
        },
        required_if=[
            ("command", "rollback", ("ref",)),
            ("command", "undo", ("ref",)),
            ("command", "preflight", ("ref",)),
        ],
        supports_check_mode=True,
    )
    p = module.params
    host = Host(module)
    command, ref = p["command"], p["ref"]
    try:
        if command in READ_ONLY:
            args = [command, ref] if ref and command in ("show", "verify") else [command]
            rc, doc = host.run(*args)
            module.exit_json(changed=False, result=doc, exit_code=rc, root=host.root)
        if command == "preflight":
            doc = preflight(host, p, ref)
            module.exit_json(changed=False, result=doc, exit_code=0, root=host.root)
        if module.check_mode and command in ("create", "before"):
            module.exit_json(changed=True, result=None, exit_code=0, root=host.root)
        if command == "create":
            args = ["create", *(["--label", p["label"]] if p["label"] else [])]
            rc, doc = host.run(*args)
            module.exit_json(changed=True, result=doc, exit_code=rc, root=host.root)
        if command == "before":
            changed, doc = before(host, ref, p)
            module.exit_json(changed=changed, result=doc, exit_code=0, root=host.root)
        if command == "undo":  # recover first: an interrupted run may have left a journal
            p = {**p, "recover": True}
        changed, doc = rollback(host, p, ref, module.check_mode, undo=command == "undo")
        module.exit_json(changed=changed, result=doc, exit_code=0, root=host.root)
    except Failed as exc:
        module.fail_json(
            msg=exc.msg, exit_code=exc.exit_code, result=exc.result, root=host.root, runs=host.runs
        )


if __name__ == "__main__":
    main()
