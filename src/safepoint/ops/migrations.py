"""The rule that a code rollback never silently leaves the database ahead of the code.

Before any file changes, the migrations applied in the database (asked of the site's own
Django, safepoint/django/) are compared with the migrations on disk in the target checkpoint
(read from its manifest). When the database holds migrations the target does not know, the
rollback is refused (``MigrationsAheadError``, exit 2) unless:

- ``migrate``: with the *current* code, ``manage.py migrate APP TARGET`` for each app that is
  ahead, after checking every step can be reversed (else refused, naming the operation, before
  any change); after the switch, ``manage.py migrate`` with the restored code applies what the
  target has and the database lacks. When a later step fails and the files are back as they
  were, the database is migrated forward again with them; when they are not, the error says
  where the database stands;
- ``force``: the rollback goes ahead and says what is left inconsistent.

Only apps whose migrations live under the root are compared: Django's own and other installed
apps live in the (excluded) virtual environment and do not change with a rollback. A site
without ``manage.py`` costs one stat here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from safepoint.django.migrations import Names, by_app, missing, on_disk
from safepoint.django.probe import BackwardPlan, State, backward_plan, migrate, state
from safepoint.django.site import (
    DjangoSite,
    django_site,
    has_own_migrations,
    own_migration_folders,
)
from safepoint.errors import OperationalError, UsageError
from safepoint.model.entry import FILE
from safepoint.ops.site import Site
from safepoint.store.records import Checkpoint

Warn = Callable[[str], None]


def _django(site: Site) -> DjangoSite | None:
    """The Django site to ask, or None: not a Django site (one stat), or none of its apps has
    migrations under the root (a short walk), so there is nothing a rollback could leave ahead."""
    dj = django_site(site.config)
    return dj if dj is not None and has_own_migrations(site.root) else None


class MigrationsAheadError(UsageError):
    """The database holds migrations the rollback's target does not know."""


@dataclass(frozen=True)
class MigrationOptions:
    """What a rollback may do when the database is ahead of its target."""

    migrate: bool = False  # reverse them with the current code first
    force: bool = False  # roll back the code anyway
    # The database comes back with the target's snapshot (--with-db): its migrations are the
    # target's, so there is nothing to compare or reverse.
    with_db: bool = False


def record_migrations(site: Site) -> dict[str, Any]:
    """What a checkpoint records of the database (``extra``): ``{"migrations": {"applied":
    {app: [names]}, "dirs": {app: folder}}}``, ``{"migrations": {"error": why}}`` when the
    database cannot be read, ``{}`` for a site without ``manage.py`` (no subprocess)."""
    dj = _django(site)
    if dj is None:
        return {}
    try:
        return {"migrations": state(dj).to_json()}
    except OperationalError as exc:
        return {"migrations": {"error": str(exc)}}


def checkpoint_migrations(site: Site, cp: Checkpoint, dirs: dict[str, str] | None = None) -> Names:
    """The migrations on disk in ``cp``, from its own manifest (no Django needed)."""
    recorded = cp.extra.get("migrations")
    dirs = dirs or (recorded.get("dirs") if isinstance(recorded, dict) else None) or {}
    labels = {folder: label for label, folder in dirs.items()}
    entries = site.repository.load_manifest(cp)
    return on_disk((e.path for e in entries if e.kind == FILE), labels)


def _same_migration_files(site: Site, target: Checkpoint) -> bool:
    """Whether the rollback changes no file of the site's migrations: the same migrations
    packages on disk as the target recorded, holding the same migrations. Then it cannot leave
    the database further ahead than it is, and Django (about a second) is not asked."""
    recorded = target.extra.get("migrations")
    dirs = recorded.get("dirs") if isinstance(recorded, dict) else None
    if not isinstance(dirs, dict) or not dirs:
        return False
    if own_migration_folders(site.root) != set(dirs.values()):
        return False  # an app added or removed since, or a record that counted the venv's
    return checkpoint_migrations(site, target, dirs) == live_migrations(site, dirs)


def live_migrations(site: Site, dirs: dict[str, str]) -> Names:
    """The migrations on disk now in the folders ``dirs`` names (app label -> folder)."""
    paths = []
    for folder in dirs.values():
        try:
            paths += [f"{folder}/{name}" for name in os.listdir(site.root / folder)]
        except OSError:
            continue
    return on_disk(paths, {folder: label for label, folder in dirs.items()})


def check_schema(
    site: Site,
    target: Checkpoint,
    options: MigrationOptions | None = None,
    *,
    dry_run: bool = False,
    warn: Warn,
) -> SchemaSteps:
    """Compare before a rollback changes anything; refuse (MigrationsAheadError, exit 2), or
    return the steps: entering them (after the confirmation, before the safety checkpoint)
    reverses the migrations with ``migrate``; leaving them on an error puts the schema back."""
    options = options or MigrationOptions()
    if options.with_db and (options.migrate or options.force):
        raise UsageError(
            "--with-db brings the database back whole; it takes no --migrate or --force"
        )
    dj = None if options.with_db else _django(site)
    if dj is None or (not options.migrate and _same_migration_files(site, target)):
        return SchemaSteps(site, None, options, warn=warn)
    try:
        now = state(dj)
    except OperationalError as exc:
        if options.migrate:
            raise OperationalError(
                f"--migrate: cannot read the database's migrations: {exc}"
            ) from None
        warn(
            f"cannot read the migrations applied in the database ({exc}); not checked "
            "whether the rollback leaves the database ahead of the code"
        )
        return SchemaSteps(site, None, options, warn=warn)
    known = checkpoint_migrations(site, target, now.dirs)
    ahead = missing(now.applied, known)
    steps = SchemaSteps(site, dj, options, warn=warn, now=now, known=known, ahead=ahead)
    steps.files = live_migrations(site, now.dirs)
    if not ahead or options.force:
        if ahead:
            warn(
                f"--force: the database keeps migrations {target.short_id} does not know: "
                f"{', '.join(ahead)}; the restored code and the schema disagree until they "
                "are reversed (with the newer code) or the database is restored"
            )
        return steps
    if not options.migrate:
        if dry_run:
            warn(_ahead_message(target, ahead))
            return steps
        raise MigrationsAheadError(_ahead_message(target, ahead))
    plan = backward_plan(dj, {app: known.get(app, []) for app in by_app(ahead)})
    if plan.irreversible:
        problem = (
            f"--migrate cannot reverse {', '.join(plan.irreversible)}; nothing was "
            "changed (use --with-db to restore the database snapshot, or --force)"
        )
        if not dry_run:
            raise UsageError(problem)
        warn(problem)
    elif dry_run:
        steps_shown = ", ".join(f"migrate {app} {t}" for app, t in plan.targets.items())
        warn(f"--migrate would unapply {', '.join(plan.unapply)} ({steps_shown})")
    else:
        steps.plan = plan  # entering the steps runs it
    return steps


def _ahead_message(target: Checkpoint, ahead: list[str]) -> str:
    return (
        f"the database has migrations that {target.short_id} does not know: "
        f"{', '.join(ahead)}; rolling back the code alone would leave the database ahead of "
        "it. Use --migrate (reverse them first with the current code), --with-db (restore "
        "the database snapshot taken with the checkpoint) or --force (the code only)"
    )


@dataclass
class SchemaSteps:
    """The database side of one rollback (see the module docstring)."""

    site: Site
    dj: DjangoSite | None
    options: MigrationOptions
    warn: Warn
    now: State | None = None  # as read before any change
    known: Names = field(default_factory=dict)  # on disk in the target
    ahead: list[str] = field(default_factory=list)
    plan: BackwardPlan | None = None
    files: Names = field(default_factory=dict)  # on disk in the site before any change
    migrated_back: bool = False

    def __enter__(self) -> SchemaSteps:
        if self.dj is None or self.plan is None:
            return self
        self.migrated_back = True
        try:
            migrate(self.dj, list(self.plan.targets.items()))
        except OperationalError as exc:
            self._forward(f"reversing the migrations failed ({exc})", say=False)
            raise OperationalError(
                f"reversing the migrations failed ({exc}); the database was migrated forward "
                "again and no file was changed"
            ) from None
        self.warn(f"database migrated back: {', '.join(self.plan.unapply)} unapplied")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and self.migrated_back:
            self._forward(f"the rollback failed ({exc})")

    def after_switch(self) -> None:
        """The files are the target's: apply what it has and the database lacks (with
        ``migrate``), or say so."""
        if self.dj is None or self.now is None:
            return
        unapplied = set(self.plan.unapply if self.plan else ())
        applied = {
            a: [n for n in names if f"{a}.{n}" not in unapplied]
            for a, names in self.now.applied.items()
        }
        lacking = missing(self.known, applied)
        if not lacking:
            return
        if not self.options.migrate:
            self.warn(
                f"the restored code has migrations the database lacks: {', '.join(lacking)}; "
                f"apply them with: {self._command('migrate')}"
            )
            return
        try:
            migrate(self.dj)
            self.warn(f"applied the restored code's migrations: {', '.join(lacking)}")
        except OperationalError as exc:
            self.warn(f"applying the restored code's migrations failed: {exc}")

    def after_undo(self) -> None:
        """The rollback was undone (its files put back): the schema goes back too."""
        if self.migrated_back:
            self._forward("the rollback was undone")

    def _forward(self, why: str, *, say: bool = True) -> None:
        """Migrate forward again to where the database was, with the files as they were; if
        the files are not back, stop and say where the database stands."""
        assert self.dj is not None and self.now is not None and self.plan is not None
        self.migrated_back = False
        back = live_migrations(self.site, self.now.dirs) == self.files
        if back:
            try:
                steps = [(app, leaf) for app, leaves in self.now.leaves.items() for leaf in leaves]
                if steps:  # none: plain "migrate" would apply everything
                    migrate(self.dj, steps)
                if say:  # else the caller's error says it
                    self.warn(f"{why}: the database was migrated forward again to where it was")
                return
            except OperationalError as exc:
                where = "somewhere between where it was and the target's migrations"
                trouble = f"migrating it forward again failed ({exc})"
        else:
            where = ", ".join(f"{a}.{t}" for a, t in self.plan.targets.items())
            trouble = "the files are not back as they were, so it was not migrated forward"
        raise OperationalError(
            f"{why}; {trouble}: the database is at {where} (see "
            f"{self._command('showmigrations')}); once the files are back, run "
            f"{self._command('migrate')}"
        )

    def _command(self, what: str) -> str:
        assert self.dj is not None
        python = os.path.relpath(self.dj.python, self.site.root)
        python = self.dj.python if python.startswith("..") else python
        return f"'{python} manage.py {what}'"


def recorded(cp: Checkpoint) -> str | None:
    """What ``cp`` recorded of the database's migrations, as one line (``show``); None when it
    recorded nothing (not a Django site, or made before this was recorded)."""
    rec = cp.extra.get("migrations")
    if not isinstance(rec, dict):
        return None
    if "error" in rec:
        return f"not read ({rec['error']})"
    names = [f"{app}.{n}" for app, ns in sorted(rec.get("applied", {}).items()) for n in ns]
    return ", ".join(names) or "none applied"


def migration_notes(site: Site, *sides: Checkpoint | None) -> list[str]:
    """For each side of a ``status``/``diff`` (a checkpoint, or None for the working tree and
    the database now), one line per way its applied and on-disk migrations differ. A
    checkpoint is judged by what it recorded; the working tree asks Django (one subprocess,
    only with ``manage.py``)."""
    notes = []
    for cp in sides:
        if cp is None:
            dj = _django(site)
            if dj is None:
                continue
            try:
                now = state(dj)
            except OperationalError as exc:
                notes.append(f"working tree: cannot read the database's migrations: {exc}")
                continue
            name, applied, files = "working tree", now.applied, live_migrations(site, now.dirs)
        else:
            rec = cp.extra.get("migrations")
            if not isinstance(rec, dict) or "applied" not in rec:
                continue
            name, applied = f"checkpoint {cp.short_id}", rec["applied"]
            files = checkpoint_migrations(site, cp)
        ahead, lacking = missing(applied, files), missing(files, applied)
        if ahead:
            notes.append(f"{name}: applied in the database, not in its files: {', '.join(ahead)}")
        if lacking:
            notes.append(f"{name}: in its files, not applied in the database: {', '.join(lacking)}")
    return notes
