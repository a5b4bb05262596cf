"""Reading an archive (a safepoint export, or a plain ``tar czf`` of a site) for ``import``
(``ops/import_.py``, which adds it to the repository as a checkpoint of kind ``imported``):
which members a site's rules keep (``select``), what the archive says of itself (``describe``),
and storing the content the repository lacks (``store_members``: a member over
``STREAM_ABOVE`` bytes in pieces, as a scan stores a large file, so memory stays bounded
whatever the archive holds).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safepoint.archive.layout import META_DIR, label_from_filename
from safepoint.archive.limits import ImportLimits
from safepoint.archive.reader import ArchiveContents, Member, read_contents
from safepoint.archive.select import Tracker
from safepoint.errors import OperationalError
from safepoint.model.entry import DIR
from safepoint.progress import Progress
from safepoint.scan.rules import Rules
from safepoint.store.pack import CHUNK
from safepoint.store.writer import BlobWriter

# Members larger than this are stored in pieces (BlobWriter.add_file), never held whole: a
# smaller one is held once, plus its compressed copy.
STREAM_ABOVE = CHUNK


def store_members(
    writer: BlobWriter,
    archive: Path,
    members: list[Member],
    *,
    limits: ImportLimits,
    progress: Progress,
) -> None:
    """Read ``members`` from ``archive`` again (checked against what the first pass found)
    and add their content to ``writer``."""
    if not members:
        return
    progress.start("import", sum(m.size for m in members))
    for member, pieces in read_contents(archive, members, limits=limits):
        blob = bytes.fromhex(member.blob or "")
        if member.size > STREAM_ABOVE:
            writer.add_file(blob, member.size, pieces)
        else:
            writer.add(blob, b"".join(pieces))
        progress.advance(member.size)
    progress.finish()


def select(rules: Rules, members: list[Member]) -> tuple[list[Member], list[str]]:
    """The members a site's rules track, and the paths of those they exclude (a folder
    stands for everything under it). The reserved folder is never site content."""
    names = {m.path for m in members}
    tracker = Tracker(rules, is_venv=lambda d: f"{d}/pyvenv.cfg" in names)
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
