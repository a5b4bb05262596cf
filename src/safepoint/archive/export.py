"""Writing one checkpoint as a standard tar archive (``ops/export.py`` writes it with its
``.sha256`` and restore script, for a site).

Entries are streamed one at a time from the repository (every blob hash-checked as it is
read) into tar, the compressor and a SHA-256, so memory does not grow with the checkpoint.
Exporting the same checkpoint again gives the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from safepoint.archive.compress import HashingWriter, compressed_writer
from safepoint.archive.dbmember import DatabaseMember
from safepoint.archive.layout import (
    ARCHIVE_FORMAT,
    ARCHIVE_VERSION,
    INFO_NAME,
    META_DIR,
    NOTE_NAME,
    RECORD_NAME,
    created_seconds,
    script_name,
)
from safepoint.archive.paths import display, link_problem
from safepoint.archive.script import SCRIPT_HEAD, sh_quote
from safepoint.errors import IntegrityError, UsageError
from safepoint.model.entry import DIR, FILE, SYMLINK, Entry
from safepoint.progress import Progress
from safepoint.store.records import Checkpoint, record_body
from safepoint.store.repository import Repository


def check_entries(cp: Checkpoint, entries: list[Entry]) -> list[str]:
    """UsageError when ``entries`` hold the archive's reserved folder; the warnings for
    symlinks that ``import`` would refuse."""
    reserved = [e.path for e in entries if e.path.split("/")[0] == META_DIR]
    if reserved:
        raise UsageError(
            f"checkpoint {cp.short_id} holds {display(reserved[0])}, a name reserved for the "
            "archive's own data; rename it in the site and make a new checkpoint"
        )
    return [
        f"symlink {display(e.path)}: {problem}; 'safepoint import' refuses such an archive"
        for e in entries
        if e.kind == SYMLINK and (problem := link_problem(e.path, e.target or ""))
    ]


def write_new(path: Path, data: bytes, *, mode: int) -> None:
    """Create ``path`` (it must not exist) holding ``data``, fsynced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_archive(
    repo: Repository,
    cp: Checkpoint,
    entries: list[Entry],
    path: Path,
    fmt: str,
    *,
    root: Path,
    version: str,
    progress: Progress,
    database: DatabaseMember | None = None,
) -> tuple[str, int]:
    """Stream the archive into ``path`` (created, mode 0600: it holds the site's secrets) and
    fsync it; its SHA-256 (hex) and size. ``root`` and ``version`` (of safepoint) go into
    ``archive.json``."""
    created_s = created_seconds(cp)
    blobs = {bytes.fromhex(e.blob) for e in entries if e.kind == FILE and e.blob}
    repo.prefetch(repo.index.lookup_many(blobs).values())  # from a remote: up front, 4 at once
    progress.start("export", cp.bytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        raw = HashingWriter(f)
        with (
            compressed_writer(fmt, raw, mtime=created_s) as stream,
            tarfile.open(
                fileobj=stream,
                mode="w|",
                format=tarfile.PAX_FORMAT,
                encoding="utf-8",
                errors="surrogateescape",
            ) as tar,
        ):
            for member, data in metadata_members(cp, entries, root=root, version=version):
                tar.addfile(member, io.BytesIO(data))
            if database is not None:
                reader = PiecesReader(database.pieces())
                tar.addfile(database.tar_info(created_s), reader)
                reader.finish()
            for entry in entries:
                add_entry(tar, repo, entry)
                progress.advance(entry.size)
        f.flush()
        os.fsync(f.fileno())
    progress.finish()
    return raw.sha256.hexdigest(), raw.size


def metadata_members(
    cp: Checkpoint, entries: list[Entry], *, root: Path, version: str
) -> Iterable[tuple[tarfile.TarInfo, bytes]]:
    """The reserved folder: archive.json, the record (byte for byte), the note."""
    info = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "checkpoint": cp.id,
        "site": root.name,
        "root": os.fspath(root),
        "entries": len(entries),
        "files": cp.files,
        "bytes": cp.bytes,
        "safepoint": version,
    }
    seconds = created_seconds(cp)
    folder = tarfile.TarInfo(META_DIR)
    folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, seconds
    yield folder, b""
    files = [
        (INFO_NAME, json.dumps(info, indent=1, sort_keys=True).encode("ascii") + b"\n"),
        (RECORD_NAME, record_body(cp)),
    ]
    if cp.note:
        files.append((NOTE_NAME, cp.note.encode("utf-8", "surrogateescape")))
    for name, data in files:
        member = tarfile.TarInfo(f"{META_DIR}/{name}")
        member.mode, member.mtime, member.size = 0o644, seconds, len(data)
        yield member, data


def add_entry(tar: tarfile.TarFile, repo: Repository, entry: Entry) -> None:
    member = tarfile.TarInfo(entry.path)
    member.mode, member.uid, member.gid = entry.mode, entry.uid, entry.gid
    member.uname = member.gname = ""  # numeric owners: names differ between machines
    seconds, text = pax_time(entry.mtime_ns)
    member.mtime = seconds
    if text is not None:
        member.pax_headers = {**member.pax_headers, "mtime": text}
    if entry.kind == DIR:
        member.type = tarfile.DIRTYPE
        tar.addfile(member)
    elif entry.kind == SYMLINK:
        member.type, member.linkname = tarfile.SYMTYPE, entry.target or ""
        tar.addfile(member)
    elif entry.kind == FILE:
        blob_id = bytes.fromhex(entry.blob or "")
        try:
            loc = repo.index.lookup(blob_id)
            if loc is None:
                raise IntegrityError(f"blob {blob_id.hex()} is missing from the repository")
            member.size = loc.raw_size
            content = repo.content(loc)
            if isinstance(content, bytes):
                tar.addfile(member, io.BytesIO(content))
            else:  # a large blob, streamed; its hash is checked once it has been read whole
                reader = PiecesReader(content)
                tar.addfile(member, reader)
                reader.finish()
        except IntegrityError as exc:
            raise IntegrityError(f"{display(entry.path)}: {exc}") from None


class PiecesReader(io.RawIOBase):
    """A file object over an iterator of byte strings (for ``tarfile.addfile``, which reads
    16 KiB at a time and wants every read full)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return bytes(self._view) + b"".join(self._pieces)
        parts = []
        while size > 0:
            if not self._view:
                piece = next(self._pieces, None)
                if piece is None:
                    break
                self._view = memoryview(piece)
            part, self._view = self._view[:size], self._view[size:]
            parts.append(part)
            size -= len(part)
        return b"".join(parts)

    def finish(self) -> None:
        """Read whatever is left, so that the iterator's final checks run."""
        for _ in self._pieces:
            pass


def script_path(dest: Path, cp: Checkpoint) -> Path:
    """``restore_<label>_<time>.sh`` beside the archive, or ``..._<time>-N.sh`` when that name
    belongs to the script of another archive (the same checkpoint in the other format, say)."""
    base = script_name(cp).removesuffix(".sh")
    owner = f"ARCHIVE={sh_quote(dest.name)}\n".encode("utf-8", "surrogateescape")
    n = 1
    while True:
        path = dest.with_name(f"{base}.sh" if n == 1 else f"{base}-{n}.sh")
        try:
            if owner in path.read_bytes()[:SCRIPT_HEAD]:
                return path
        except FileNotFoundError:
            return path
        n += 1


def pax_time(ns: int) -> tuple[int, str | None]:
    """Whole seconds for the tar header, and the exact time as a PAX ``mtime`` value when the
    header alone would lose the nanoseconds."""
    seconds, frac = divmod(ns, 1_000_000_000)
    if frac == 0:
        return seconds, None
    sign, whole = ("-", -ns) if ns < 0 else ("", ns)
    s, f = divmod(whole, 1_000_000_000)
    return seconds, f"{sign}{s}.{f:09d}".rstrip("0")


def repository_inside(root: Path, repository: Path) -> str | None:
    """The repository's path relative to the site root, when it lies inside it."""
    rel = os.path.relpath(os.path.realpath(repository), os.path.realpath(root))
    if rel in (".", "..") or rel.startswith("../"):
        return None
    return rel
