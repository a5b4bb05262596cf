"""Creating a checkpoint: read the tree (storing new content), write the manifest and the
record. An interruption before the record is written leaves no checkpoint and at most
unreferenced pack data: a partial pack, removed by the next writer, or a complete one, which
the next writer indexes and the next checkpoint reuses."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from safepoint.config import CONFIG_NAME, DatabaseConfig
from safepoint.errors import PendingRecoveryError, UsageError
from safepoint.model.entry import DIR, Entry
from safepoint.ops.copy import MirrorResult, mirror
from safepoint.ops.database import database_for_create, snapshot_database
from safepoint.ops.labels import check_label
from safepoint.ops.migrations import record_migrations
from safepoint.ops.prove import ProofOptions, check_proof_setup, mark_health, prove
from safepoint.ops.prune import PruneResult, auto_prune
from safepoint.ops.site import Site
from safepoint.ops.spare import found_runtime
from safepoint.parallel import result_of
from safepoint.progress import Progress
from safepoint.restore.journal import pending_recovery
from safepoint.scan.tree import Tree, read_tree
from safepoint.store.records import BY_CREATE, Checkpoint, now_iso, this_host

if TYPE_CHECKING:
    from safepoint.health import HealthReport


@dataclass(frozen=True)
class CreateResult:
    checkpoint: Checkpoint
    tree: Tree  # what was read
    health: HealthReport | None = None  # with verify_health: the checks' verdict
    not_proven: str | None = None
    """With verify_health: why the checks were not run on these files (not marked)."""
    proof_error: str | None = None
    """With verify_health and reload: the reload or a hook failed (not marked)."""
    pruned: PruneResult | None = None  # [retention] auto = true: what the policy forgot
    mirrored: MirrorResult | None = None  # [repository] mirror: what was copied there, or why not

    @property
    def entries(self) -> list[Entry]:
        return self.tree.entries

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return self.tree.skipped

    @property
    def found(self) -> list[tuple[str, str]]:
        """(path, what) of the databases and runtime files left out (ops/spare.py)."""
        return found_runtime(self.tree)

    @property
    def hashed(self) -> int:
        """Files read this time (the rest came from the tree cache)."""
        return self.tree.hashed


def create_checkpoint(
    site: Site,
    *,
    label: str | None = None,
    note: str | None = None,
    kind: str = "manual",
    pin: bool = False,
    verify_health: bool = False,
    reload: bool = False,
    progress: Progress | None = None,
    proof_options: ProofOptions | None = None,
    with_db: bool = False,
) -> CreateResult:
    """Make a checkpoint of the site's current tree (takes the repository lock) and return it
    with what was read. ``label`` must pass ``check_label`` (else ``UsageError``, exit code 2: not
    empty, ``latest``, ``good`` or ``bad``, not 4 to 64 hex digits, no control characters, at
    most 200 characters); ``note`` is free text. A rollback left
    unfinished by a crash is refused (``PendingRecoveryError``: run ``safepoint recover``).

    ``pin`` marks it pinned: ``forget`` refuses it without ``--force`` and ``prune`` keeps it.
    With ``[retention] auto = true`` the policy is applied afterwards (``pruned``). With
    ``[repository] mirror``, every checkpoint the mirror lacks is copied there last
    (``mirrored``); a mirror that fails is reported there, not raised: the checkpoint is safe.

    With ``verify_health`` the health checks run after it is written: it is marked known-good
    when they pass and bad when they fail (it is kept either way). Known-good means proven on
    these files: with ``[app]``, the checks run only when every worker started after the last
    change to a tracked file (else ``not_proven`` says why, and nothing is marked), or after
    ``reload`` has reloaded the app (and run the hooks) with them."""
    repo = site.repository
    if label is not None:
        check_label(label)
    if verify_health and not site.config.health.configured:
        raise UsageError(
            "--verify-health needs health checks: add [[health.http]] or "
            f"[[health.command]] to {site.root / CONFIG_NAME}"
        )
    if verify_health:
        check_proof_setup(site, proof_options)
    database = database_for_create(site, with_db=with_db)
    with repo.lock(), ThreadPoolExecutor(1) as background:
        refuse_if_pending(site)
        # The database's migrations, when it can be read: asking the site's Django takes about
        # a second (its start-up and migration loader), so it runs while the tree is read.
        migrations = background.submit(record_migrations, site)
        result = take_checkpoint(
            site,
            label=label,
            note=note,
            kind=kind,
            progress=progress,
            extra=lambda: result_of(migrations),
            database=database,
        )
        result = replace(result, pruned=auto_prune(site))  # the new checkpoint is head: kept
        cp = result.checkpoint
        if pin:
            result = replace(result, checkpoint=repo.set_marks(cp, replace(cp.marks, pinned=True)))
        if verify_health:
            result = _verify_health(site, result, reload=reload, proof_options=proof_options)
    # After the lock is let go (the copy only reads this repository), with the mark just earned.
    return replace(result, mirrored=mirror(site))


def _verify_health(
    site: Site, result: CreateResult, *, reload: bool, proof_options: ProofOptions | None
) -> CreateResult:
    """``create --verify-health``: prove the new checkpoint and mark it (see
    ``create_checkpoint``)."""
    if not reload and site.config.app is not None:
        from safepoint.health.app import app_freshness  # /proc: only when asked

        fresh = app_freshness(site.config.app, _changes(site, result.entries))
        if not fresh.fresh:
            return replace(result, not_proven=fresh.reason)
    proof = prove(site, run_hook=reload, options=proof_options)
    if proof.health is None:  # the reload or a hook failed: nothing was checked
        return replace(result, proof_error=proof.summary())
    marked = mark_health(site, result.checkpoint, proof, how=BY_CREATE)
    return replace(result, checkpoint=marked, health=proof.health)


def _changes(site: Site, entries: list[Entry]) -> list[tuple[int, str]]:
    """(ctime_ns, path) of every tracked file and link, as it is now. Directories are left
    out: a database journal or a pid file created beside tracked files changes their ctime
    all the time."""
    out = []
    for e in entries:
        if e.kind == DIR:
            continue
        try:
            out.append((os.lstat(site.root / e.path).st_ctime_ns, e.path))
        except OSError:  # gone since the scan: a change the app cannot have seen
            out.append((time.time_ns(), e.path))
    return out


def refuse_if_pending(site: Site) -> None:
    pending = pending_recovery(site.repository.journal_path)
    if pending is not None:
        raise PendingRecoveryError(pending)


def take_checkpoint(
    site: Site,
    *,
    label: str | None,
    note: str | None,
    kind: str,
    extra: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    progress: Progress | None = None,
    keep_cache: bool = True,
    database: DatabaseConfig | None = None,
) -> CreateResult:
    """The work of ``create_checkpoint``; the caller holds the repository lock. With
    ``database``, a snapshot of it is stored too and named in ``extra["database"]``.
    ``extra`` may be a function, called once the tree is read (a result computed meanwhile)."""
    repo = site.repository
    with repo.writer() as writer:
        tree = read_tree(site.root, site.rules, repo.cache_path, sink=writer, progress=progress)
        manifest = writer.add_chunks(tree.chunks())
        if callable(extra):
            extra = extra()
        if database is not None:
            extra = {**(extra or {}), "database": snapshot_database(site, writer, database)}
        writer.commit()
        new_bytes = writer.stored_bytes
    cp = repo.save_checkpoint(
        Checkpoint(
            id="",
            files=tree.files,
            bytes=tree.size,
            created=now_iso(),
            kind=kind,
            manifest=manifest,
            new_bytes=new_bytes,
            label=label,
            note=note,
            host=this_host(),
            user=_user(),
            extra={"rules": site.rules.fingerprint, **(extra or {})},
        )
    )
    if keep_cache:
        tree.save_cache()
    repo.set_head(cp)
    return CreateResult(cp, tree)


def _user() -> str | None:
    import getpass  # here: rarely worth its import time otherwise

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
