"""What a portable archive holds and how its files are named (see docs/FORMAT.md, "Portable
archives").

An archive is a standard tar (PAX) of one checkpoint's entries, gzip- or zstd-compressed,
with a reserved folder first::

    .safepoint-checkpoint/archive.json   {"format": "safepoint-archive", "version": 1, ...}
    .safepoint-checkpoint/record.json    the checkpoint record, byte for byte (hash = its id)
    .safepoint-checkpoint/NOTE.md        the checkpoint's note, when it has one

Beside it: ``NAME.sha256`` (``sha256sum`` format) and ``restore_<label>_<timestamp>.sh``.
"""

from __future__ import annotations

import re

from safepoint.store.records import Checkpoint

META_DIR = ".safepoint-checkpoint"
INFO_NAME = "archive.json"
RECORD_NAME = "record.json"
NOTE_NAME = "NOTE.md"
META_FILES = (INFO_NAME, RECORD_NAME, NOTE_NAME)
ARCHIVE_FORMAT = "safepoint-archive"
ARCHIVE_VERSION = 1

GZIP, ZSTD = "tar.gz", "tar.zst"
FORMATS = (GZIP, ZSTD)
SUFFIXES = {".tar.gz": GZIP, ".tgz": GZIP, ".tar.zst": ZSTD, ".tzst": ZSTD}
# Hand-made archives come with these too; import strips them to label the checkpoint.
IMPORT_SUFFIXES = (*SUFFIXES, ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tbz", ".tar")

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def name_part(text: str) -> str:
    """``text`` made safe as part of a file name: runs of other characters become '-'."""
    return _UNSAFE.sub("-", text).strip(".-") or "checkpoint"


def timestamp(cp: Checkpoint) -> str:
    """The checkpoint's creation time, local, as ``YYYYmmdd_HHMMSS``; for a time that cannot
    be converted (a record imported before dates were checked), the record's text made safe."""
    try:
        return cp.created_at.astimezone().strftime("%Y%m%d_%H%M%S")
    except (ValueError, OverflowError, OSError):
        return name_part(cp.created[:19])


def created_seconds(cp: Checkpoint) -> int:
    """The creation time as the seconds a gzip header holds (0 to 2^32 - 1), 0 when the
    record's time cannot be converted: the archive's own times, never its content's."""
    try:
        seconds = int(cp.created_at.timestamp())
    except (ValueError, OverflowError, OSError):
        return 0
    return min(max(seconds, 0), 2**32 - 1)


def label_of(cp: Checkpoint) -> str:
    return cp.label or cp.short_id


def archive_name(site_name: str, cp: Checkpoint, fmt: str) -> str:
    return f"{name_part(site_name)}_{name_part(label_of(cp))}_{timestamp(cp)}.{fmt}"


def script_name(cp: Checkpoint) -> str:
    return f"restore_{name_part(label_of(cp))}_{timestamp(cp)}.sh"


def checksum_name(archive_name: str) -> str:
    return f"{archive_name}.sha256"


def format_of(name: str) -> str | None:
    """The format a file name's suffix asks for, if it names one."""
    lower = name.lower()
    for suffix, fmt in SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt
    return None


def label_from_filename(name: str) -> str:
    """``eventsite_backup_2024.tar.gz`` -> ``eventsite_backup_2024``."""
    lower = name.lower()
    for suffix in IMPORT_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
