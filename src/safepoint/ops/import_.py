"""``import``: an archive (a safepoint export, or a plain ``tar czf`` of a site) added to the
repository as a checkpoint of kind ``imported`` (reading the archive: ``archive/``).

Order: the ``.sha256`` beside the archive is checked; under the repository lock, the whole
archive is read and validated (``reader.read_archive``, within ``limits.ImportLimits``); the
label is checked as ``create`` checks it; the site's exclude rules are applied,
so the checkpoint holds what ``create`` would have taken of that tree; if a checkpoint with
the same content, label and creation time already exists it is reported instead of adding
another; otherwise only content the repository lacks is read again and stored
(``importer.store_members``), then the manifest and the record are written. Any failure
before the record is written aborts the pack data, so the repository is as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safepoint.archive.checksum import check_beside
from safepoint.archive.dbmember import ENGINES
from safepoint.archive.importer import describe, select, store_members
from safepoint.archive.limits import ImportLimits
from safepoint.archive.reader import ArchiveContents, Member, read_archive, read_contents
from safepoint.dbsnap.snapshot import scratch, store_copy
from safepoint.errors import IntegrityError, UsageError
from safepoint.model.entry import FILE, order_key
from safepoint.ops.create import refuse_if_pending
from safepoint.ops.labels import LabelError, check_label
from safepoint.ops.site import Site
from safepoint.progress import NullProgress, Progress
from safepoint.store.manifest import manifest_id
from safepoint.store.records import Checkpoint, new_checkpoint
from safepoint.store.repository import Repository
from safepoint.store.snapshots import snapshot_info
from safepoint.store.writer import BlobWriter


@dataclass(frozen=True)
class ImportResult:
    checkpoint: Checkpoint
    existing: bool  # the repository already held this checkpoint; nothing was added
    source: str  # "safepoint" (an export) or "tar" (a plain archive)
    checksum_checked: bool
    stripped: str | None = None  # the top folder removed from every path
    skipped: list[str] = field(default_factory=list)  # paths the site's rules exclude


def import_archive(
    site: Site,
    archive: Path,
    *,
    label: str | None = None,
    limits: ImportLimits | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Add ``archive`` as a checkpoint (takes the repository lock); see the module docstring.
    ``label`` replaces the one the archive's record or file name gives."""
    progress = progress or NullProgress()
    limits = limits or ImportLimits()
    archive = archive.absolute()
    if label is not None:
        check_label(label)
    if not archive.is_file():
        raise UsageError(f"{archive} is not a file")
    checked = check_beside(archive) is not None
    size = archive.stat().st_size
    repo = site.repository
    with repo.lock():
        refuse_if_pending(site)
        progress.start("check archive", size)
        contents = read_archive(
            archive,
            select=lambda members: select(site.rules, members),
            advance=progress.advance,
            limits=limits,
        )
        progress.finish()
        kept, skipped = contents.members, contents.skipped
        entries = sorted((m.entry() for m in kept), key=lambda e: order_key(e.path))
        given, note, created, extra = describe(archive, contents)
        if label is None and given is not None:
            try:
                label = check_label(given)
            except LabelError as exc:
                raise LabelError(f"{archive.name}: {exc} (--label gives another)") from None
        manifest = manifest_id(entries)
        source = "safepoint" if contents.meta is not None else "tar"
        for cp in repo.checkpoints():
            if (cp.manifest, cp.label, cp.created) == (manifest, label, created):
                return ImportResult(cp, True, source, checked, contents.stripped, skipped)

        wanted: dict[str, Member] = {}  # content the repository lacks -> a member holding it
        for m in kept:
            if m.kind == FILE and m.blob not in wanted and bytes.fromhex(m.blob or "") not in repo:
                wanted[m.blob or ""] = m
        with repo.writer() as writer:
            store_members(writer, archive, list(wanted.values()), limits=limits, progress=progress)
            database = _database_snapshot(repo, writer, archive, contents, limits)
            if database is not None:
                extra["database"] = database
            stored = writer.add_manifest(entries)
            writer.commit()
            new_bytes = writer.stored_bytes
        assert stored == manifest
        record = contents.meta.record if contents.meta is not None else {}
        cp = repo.save_checkpoint(
            new_checkpoint(
                entries,
                created=created,
                kind="imported",
                manifest=manifest,
                new_bytes=new_bytes,
                label=label,
                note=note,
                host=record.get("host"),
                user=record.get("user"),
                extra=extra,
            )
        )
    return ImportResult(cp, False, source, checked, contents.stripped, skipped)


def _database_snapshot(
    repo: Repository,
    writer: BlobWriter,
    archive: Path,
    contents: ArchiveContents,
    limits: ImportLimits,
) -> dict[str, Any] | None:
    """The export's database snapshot, stored through ``writer`` as ``create --with-db``
    stores one, and checked: it must give the very snapshot (top blob) its record names.
    Returns the record's ``extra["database"]``; None when the archive holds no snapshot."""
    member, meta = contents.database, contents.meta
    if member is None or meta is None:
        return None
    info = snapshot_info(meta.record.get("extra") or {})
    engine = ENGINES[member.path.partition("/")[2]]
    mismatch = IntegrityError(
        f"{archive.name}: its database snapshot is not the one its record names "
        "(nothing was imported)"
    )
    if info is None or info.get("engine") != engine:
        raise mismatch
    with scratch(repo) as tmp:
        copy = tmp / "import"
        with open(copy, "xb") as f:
            for _, pieces in read_contents(archive, [member], limits=limits):
                for piece in pieces:
                    f.write(piece)
        stored = store_copy(writer, copy, engine=engine, name=str(info.get("name")))
    if stored["top"] != info["top"]:
        raise mismatch
    return stored
