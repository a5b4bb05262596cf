"""Asking the site's own Django: a short script run by the site's interpreter (``python -c``).

The script prints one line, ``MARK`` followed by a JSON document, as its last line of output
(settings modules may print too). Every question reads only; ``migrate`` is the one call that
changes the database, through the site's own ``manage.py``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from safepoint.config import Config
from safepoint.django.migrations import Names
from safepoint.django.site import DjangoSite, django_site
from safepoint.errors import OperationalError

MARK = "@@safepoint-django@@"
PROBE_TIMEOUT = 120.0

# Runs inside the site's interpreter, with the root as the working directory: stdlib and Django
# only, and nothing that writes (MigrationRecorder.applied_migrations does not create its table).
_SCRIPT = r"""
import json, os, sys
MARK = "@@safepoint-django@@"
def out(doc, code=0):
    sys.stdout.write("\n" + MARK + json.dumps(doc) + "\n")
    sys.exit(code)
try:
    ask = json.loads(sys.argv[1])
    root = os.path.realpath(os.getcwd())
    sys.path.insert(0, root)
    import django
    django.setup()
    from django.conf import settings
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.loader import MigrationLoader
    doc = {"django": django.get_version()}
    if ask["what"] == "databases":
        doc["databases"] = [
            {"alias": alias, "engine": str(db.get("ENGINE", "")), "name": str(db.get("NAME", "")),
             "host": str(db.get("HOST", "") or ""), "port": str(db.get("PORT", "") or ""),
             "user": str(db.get("USER", "") or "")}
            for alias, db in settings.DATABASES.items()
        ]
        out(doc)
    connection = connections[DEFAULT_DB_ALIAS]
    db = connection.settings_dict
    name = str(db.get("NAME") or "")
    if (db.get("ENGINE", "").endswith("sqlite3") and name and ":memory:" not in name
            and not name.startswith("file:") and not os.path.exists(name)):
        connection = None  # connecting would create the file: nothing is applied in no file
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    graph, applied = loader.graph, set(loader.applied_migrations)
    dirs = {}
    for label in loader.migrated_apps:
        module = sys.modules.get(loader.migrations_module(label)[0])
        path = getattr(module, "__file__", None)
        path = path or next(iter(getattr(module, "__path__", [])), None)
        if path is None:
            continue
        folder = os.path.realpath(os.path.dirname(path) if path.endswith(".py") else path)
        # Only the site's own apps: under the root, and not in a virtual environment there
        # (Django's own apps live in the venv, which checkpoints leave out).
        up = folder
        while up.startswith(root + os.sep) and not os.path.exists(os.path.join(up, "pyvenv.cfg")):
            up = os.path.dirname(up)
        if folder.startswith(root + os.sep) and up == root:
            dirs[label] = os.path.relpath(folder, root).replace(os.sep, "/")
    def leaves(label, among):
        nodes = [n for n in among if n[0] == label]
        return sorted(n[1] for n in nodes
                      if not any(c in among and c[0] == label for c in graph.node_map[n].children))
    doc["dirs"] = dirs
    doc["applied"] = {l: sorted(n for a, n in applied if a == l) for l in dirs}
    doc["leaves"] = {l: leaves(l, applied & set(graph.nodes)) for l in dirs}
    if ask["what"] == "plan":
        from django.db.migrations.executor import MigrationExecutor
        executor = MigrationExecutor(connection)
        targets, unapply, irreversible = {}, [], []
        for label, known in ask["known"].items():
            among = {(label, n) for n in known} & applied & set(graph.nodes)
            found = leaves(label, among)
            targets[label] = found[-1] if found else "zero"
            plan = executor.migration_plan([(label, found[-1] if found else None)])
            for migration, backwards in plan:
                name = migration.app_label + "." + migration.name
                if not backwards or name in unapply:
                    continue
                unapply.append(name)
                for op in migration.operations:
                    if not op.reversible:
                        kind = type(op).__name__
                        why = {"RunPython": "RunPython without reverse_code",
                               "RunSQL": "RunSQL without reverse_sql"}.get(kind, kind)
                        irreversible.append(name + ": " + why + " (" + op.describe() + ")")
        doc.update(targets=targets, unapply=unapply, irreversible=irreversible)
    out(doc)
except SystemExit:
    raise
except BaseException as exc:
    out({"error": type(exc).__name__ + ": " + str(exc).strip().splitlines()[0][:300]
         if str(exc).strip() else type(exc).__name__}, 1)
"""


@dataclass(frozen=True)
class DatabaseSettings:
    """One entry of the site's ``DATABASES`` (the password is never read out)."""

    alias: str
    engine: str  # "django.db.backends.sqlite3", "django.db.backends.postgresql", ...
    name: str  # the SQLite file (as configured: absolute, or relative to the root) or db name
    host: str
    port: str
    user: str


@dataclass(frozen=True)
class State:
    """The migrations applied in the site's default database, for apps under the root."""

    applied: Names
    leaves: Names
    """Per app, the applied migrations no other applied one of the app follows (what
    ``manage.py migrate APP LEAF`` goes forward to again)."""
    dirs: dict[str, str]
    """app label -> its migrations folder, relative to the root."""

    def to_json(self) -> dict[str, Any]:
        return {"applied": self.applied, "dirs": self.dirs}


@dataclass(frozen=True)
class BackwardPlan:
    targets: dict[str, str]
    """app label -> the migration to go back to (``manage.py migrate APP TARGET``) or zero."""
    unapply: list[str]
    """``app.name`` of every migration the plan unapplies, in order."""
    irreversible: list[str]
    """``app.name: why`` of each operation that cannot be reversed."""


def databases(config: Config) -> list[DatabaseSettings]:
    """The site's ``DATABASES`` as its own Django settings give them: engine, name, host, port,
    user (never the password). [] when the site is not a Django site (no ``manage.py``).
    Raises OperationalError when the site's interpreter cannot load its settings."""
    site = django_site(config)
    if site is None:
        return []
    doc = run_probe(site, {"what": "databases"})
    return [DatabaseSettings(**db) for db in doc["databases"]]


def state(site: DjangoSite) -> State:
    """The migrations applied in the site's database now (OperationalError if it cannot be
    read: Django not importable, settings broken, database unreachable)."""
    doc = run_probe(site, {"what": "state"})
    return State(applied=doc["applied"], leaves=doc["leaves"], dirs=doc["dirs"])


def backward_plan(site: DjangoSite, known: Mapping[str, list[str]]) -> BackwardPlan:
    """With the current code: what ``manage.py migrate APP TARGET`` would unapply to bring each
    app of ``known`` back to the newest of its migrations that ``known`` holds (``zero`` when
    none), and which of those steps cannot be reversed. Changes nothing."""
    doc = run_probe(site, {"what": "plan", "known": dict(known)})
    return BackwardPlan(doc["targets"], doc["unapply"], doc["irreversible"])


def migrate(site: DjangoSite, steps: Sequence[tuple[str, str]] = ()) -> None:
    """``manage.py migrate APP TARGET --noinput`` for each (app, target) of ``steps``, in
    order, or ``manage.py migrate --noinput`` when there are none: Django's own ``migrate``
    command, run by the site's interpreter in one process (one start-up for all the apps)."""
    shown = "; ".join(f"manage.py migrate {app} {target}" for app, target in steps)
    shown = shown or "manage.py migrate"
    try:
        done = subprocess.run(
            [site.python, "-c", _MIGRATE, json.dumps([list(step) for step in steps])],
            cwd=site.root,
            env=site.env(),
            capture_output=True,
            text=True,
            timeout=site.timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OperationalError(f"{shown} could not run: {exc}") from None
    if done.returncode != 0:
        raise OperationalError(f"{shown} failed: {_last_line(done.stderr or done.stdout)}")


# What manage.py does (settings from the environment, the root on sys.path), then the command.
_MIGRATE = r"""
import json, os, sys
sys.path.insert(0, os.getcwd())
import django
django.setup()
from django.core.management import call_command
steps = json.loads(sys.argv[1])
for app, target in steps or [[None, None]]:
    call_command("migrate", *(a for a in (app, target) if a), interactive=False, verbosity=1)
"""


def run_probe(site: DjangoSite, ask: Mapping[str, object]) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [site.python, "-c", _SCRIPT, json.dumps(ask)],
            cwd=site.root,
            env=site.env(),
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OperationalError(f"cannot run the site's interpreter {site.python}: {exc}") from None
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARK):
            doc: dict[str, Any] = json.loads(line[len(MARK) :])
            if "error" in doc:
                raise OperationalError(f"the site's Django ({site.python}): {doc['error']}")
            return doc
    raise OperationalError(
        f"the site's interpreter {site.python} gave no answer: {_last_line(done.stderr)}"
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"
