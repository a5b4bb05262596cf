"""The ``safepoint.fleet.results`` callback: writes each host's result of every
``safepoint.fleet.safepoint`` task as ``<command>-<host>.json`` in the folder named by
``SAFEPOINT_FLEET_RESULTS`` (the fleet run's journal folder), the moment the host reports it.

Each file is written to a temporary name, fsynced and renamed, so a controller killed at any
moment leaves whole results or none: ``safepoint fleet undo`` trusts what it finds. Loaded by
Ansible as a plugin file; standard library and Ansible only.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: results
type: aggregate
short_description: write safepoint module results to the fleet journal
description:
  - Writes each host's result of a safepoint.fleet.safepoint task as a JSON file in
    the folder named by the environment variable SAFEPOINT_FLEET_RESULTS.
requirements:
  - enable in configuration (ANSIBLE_CALLBACKS_ENABLED=safepoint.fleet.results)
"""

MODULE_NAMES = ("safepoint.fleet.safepoint", "safepoint")


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "safepoint.fleet.results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.folder = os.environ.get("SAFEPOINT_FLEET_RESULTS")

    def _write(self, result: Any, state: str) -> None:
        task = result._task
        if not self.folder or task.action not in MODULE_NAMES:
            return
        command = str(task.args.get("command", "unknown"))
        host = result._host.get_name()
        doc = {"host": host, "command": command, "state": state, **dict(result._result)}
        doc.pop("invocation", None)
        path = os.path.join(self.folder, f"{command}-{host}.json")
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._write(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._write(result, "failed")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._write(result, "unreachable")
