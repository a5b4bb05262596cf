"""Creating a checkpoint: read the tree (storing new content), write the manifest and the
record. An interruption before the record is written leaves no checkpoint and at most
unreferenced pack data: a partial pack, removed by the next writer, or a complete one, which
the next writer indexes and the next checkpoint reuses."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from safepoint.config import CONFIG_NAME
from safepoint.errors import PendingRecoveryError, UsageError
from safepoint.ops.site import Site
from safepoint.ops.tree import Tree, read_tree
from safepoint.progress import Progress
from safepoint.restore.journal import pending_recovery
from safepoint.scan.entry import Entry
from safepoint.store.records import Checkpoint, now_iso

if TYPE_CHECKING:
    from safepoint.health import HealthReport


@dataclass(frozen=True)
class CreateResult:
    checkpoint: Checkpoint
    tree: Tree  # what was read
    health: HealthReport | None = None  # with verify_health: the checks' verdict

    @property
    def entries(self) -> list[Entry]:
        return self.tree.entries

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return self.tree.skipped

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
    progress: Progress | None = None,
) -> CreateResult:
    """Make a checkpoint of the site's current tree (takes the repository lock).

    With ``verify_health`` the health checks run after it is written: it is marked known-good
    when they pass and bad when they fail (it is kept either way)."""
    repo = site.repository
    if verify_health and not site.config.health.configured:
        raise UsageError(
            "--verify-health needs health checks: add [[health.http]] or "
            f"[[health.command]] to {site.root / CONFIG_NAME}"
        )
    with repo.lock():
        refuse_if_pending(site)
        result = take_checkpoint(site, label=label, note=note, kind=kind, progress=progress)
        cp = result.checkpoint
        if pin:
            cp = repo.set_marks(cp, replace(cp.marks, pinned=True))
        if not verify_health:
            return replace(result, checkpoint=cp)
        from safepoint.ops.prove import mark_health, prove  # the HTTP client, only when asked

        proof = prove(site, run_hook=False)
        return replace(result, checkpoint=mark_health(site, cp, proof), health=proof.health)


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
    extra: dict[str, Any] | None = None,
    progress: Progress | None = None,
    keep_cache: bool = True,
) -> CreateResult:
    """The work of ``create_checkpoint``; the caller holds the repository lock."""
    repo = site.repository
    with repo.writer() as writer:
        tree = read_tree(site, writer=writer, progress=progress)
        manifest = writer.add_chunks(tree.chunks())
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
            host=os.uname().nodename,
            user=_user(),
            extra={"rules": site.rules.fingerprint, **(extra or {})},
        )
    )
    if keep_cache:
        tree.save_cache(site)
    repo.set_head(cp)
    return CreateResult(cp, tree)


def _user() -> str | None:
    import getpass  # here: rarely worth its import time otherwise

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
