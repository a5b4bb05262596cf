"""``import``: an archive (a safepoint export, or a plain ``tar czf`` of a site) added to the
repository as a checkpoint of kind ``imported``.

Order: the ``.sha256`` beside the archive is checked; under the repository lock, the whole
archive is read and validated (``reader.read_archive``, within ``limits.ImportLimits``); the
label is checked as ``create`` checks it; the site's exclude rules are applied,
so the checkpoint holds what ``create`` would have taken of that tree; if a checkpoint with
the same content, label and creation time already exists it is reported instead of adding
another; otherwise only content the repository lacks is read again and stored (a member over
``STREAM_ABOVE`` bytes in pieces, as a scan stores a large file, so memory stays bounded
whatever the archive holds), then the manifest and the record are written. Any failure
before the record is written aborts the pack data, so the repository is as it was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safepoint.archive.checksum import check_beside
from safepoint.archive.layout import META_DIR, label_from_filename
from safepoint.archive.limits import ImportLimits
from safepoint.archive.reader import ArchiveContents, Member, read_archive, read_contents
from safepoint.archive.select import Tracker
from safepoint.errors import OperationalError, UsageError
from safepoint.model.entry import DIR, FILE, order_key
from safepoint.ops.create import refuse_if_pending
from safepoint.ops.labels import LabelError, check_label
from safepoint.ops.site import Site
from safepoint.progress import NullProgress, Progress
from safepoint.store.manifest import manifest_id
from safepoint.store.pack import CHUNK
from safepoint.store.records import Checkpoint, new_checkpoint

# Members larger than this are stored in pieces (BlobWriter.add_file), never held whole: a
# smaller one is held once, plus its compressed copy.
STREAM_ABOVE = CHUNK


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
            select=lambda members: select(site, members),
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
            if wanted:
                progress.start("import", sum(m.size for m in wanted.values()))
                for member, pieces in read_contents(archive, list(wanted.values()), limits=limits):
                    blob = bytes.fromhex(member.blob or "")
                    if member.size > STREAM_ABOVE:
                        writer.add_file(blob, member.size, pieces)
                    else:
                        writer.add(blob, b"".join(pieces))
                    progress.advance(member.size)
                progress.finish()
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


def select(site: Site, members: list[Member]) -> tuple[list[Member], list[str]]:
    """The members the site's rules track, and the paths of those they exclude (a folder
    stands for everything under it). The reserved folder is never site content."""
    names = {m.path for m in members}
    tracker = Tracker(site.rules, is_venv=lambda d: f"{d}/pyvenv.cfg" in names)
    kept: list[Member] = []
    skipped: list[str] = []
    skipped_dirs: set[str] = set()
    for m in sorted(members, key=lambda m: m.path):
        if m.path.split("/")[0] == META_DIR or not tracker.tracks(m.path, is_dir=m.kind == DIR):
            parts = m.path.split("/")
            if not any("/".join(parts[:i]) in skipped_dirs for i in range(1, len(parts))):
                skipped.append(m.path)
            if m.kind == DIR:
                skipped_dirs.add(m.path)
            continue
        kept.append(m)
    kept.sort(key=lambda m: m.index)  # archive order, as the second pass reads
    return kept, skipped


def describe(
    archive: Path, contents: ArchiveContents
) -> tuple[str | None, str | None, str, dict[str, Any]]:
    """Label, note, creation time and ``extra`` for the imported checkpoint: from the record a
    safepoint archive carries; for a plain archive, the file's name and modification time."""
    extra: dict[str, Any] = {"archive": archive.name}
    if contents.meta is not None:
        record = contents.meta.record
        extra["source_checkpoint"] = contents.meta.info.get("checkpoint")
        return record.get("label"), record.get("note"), record["created"], extra
    if contents.stripped is not None:
        extra["stripped_folder"] = contents.stripped
    try:
        mtime = archive.stat().st_mtime
    except OSError as exc:
        raise OperationalError(f"cannot read {archive}: {exc.strerror}") from None
    # A file dated in the future (or before 1970) would sort wrongly among checkpoints.
    mtime = min(max(mtime, 0.0), time.time())
    created = datetime.fromtimestamp(mtime, UTC).isoformat(timespec="microseconds")
    return label_from_filename(archive.name), None, created, extra
