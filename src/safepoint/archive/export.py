"""``export``: one checkpoint as a standard tar archive, with its ``.sha256`` and restore script.

Entries are streamed one at a time from the repository (every blob hash-checked as it is
read) into tar, the compressor and a SHA-256, so memory does not grow with the checkpoint.
All three outputs are written under temporary names and renamed into place at the end, the
archive last (``outputs.staged``): a failed export removes them, and one that was killed
leaves at most ``.NAME.partial-PID`` files, which the next export to that folder removes;
never a partial archive, or a companion without its archive, under a final name. Exporting
the same checkpoint again gives the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from safepoint import __version__
from safepoint.archive.checksum import checksum_line
from safepoint.archive.compress import HashingWriter, compressed_writer
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
from safepoint.archive.outputs import destination, refuse_inside_root, staged, sweep_partials
from safepoint.archive.paths import display, link_problem
from safepoint.archive.script import SCRIPT_HEAD, ScriptInfo, render_restore_script, sh_quote
from safepoint.archive.select import Tracker
from safepoint.errors import IntegrityError, OperationalError, UsageError
from safepoint.model.entry import DIR, FILE, SYMLINK, Entry
from safepoint.ops.site import Site
from safepoint.progress import NullProgress, Progress
from safepoint.scan.walk import scan_tree
from safepoint.store.records import Checkpoint, record_body
from safepoint.store.repository import Repository


@dataclass(frozen=True)
class ExportResult:
    checkpoint: Checkpoint
    archive: Path
    checksum_file: Path
    restore_script: Path
    sha256: str
    size: int  # bytes of the archive
    format: str
    entries: int
    removals: int  # paths the restore script may remove
    warnings: list[str] = field(default_factory=list)


def export_checkpoint(
    site: Site,
    cp: Checkpoint,
    *,
    output: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Write ``cp`` as an archive, its ``.sha256`` and restore script (where: see
    ``outputs.destination``)."""
    progress = progress or NullProgress()
    repo = site.repository
    where = destination(site, cp, output, fmt)
    dest, fmt = where.archive, where.fmt
    script = script_path(dest, cp)
    sums = where.checksum
    refuse_inside_root(site, [dest, sums, script])
    entries = repo.load_manifest(cp)
    reserved = [e.path for e in entries if e.path.split("/")[0] == META_DIR]
    if reserved:
        raise UsageError(
            f"checkpoint {cp.short_id} holds {display(reserved[0])}, a name reserved for the "
            "archive's own data; rename it in the site and make a new checkpoint"
        )
    warnings = [
        f"symlink {display(e.path)}: {problem}; 'safepoint import' refuses such an archive"
        for e in entries
        if e.kind == SYMLINK and (problem := link_problem(e.path, e.target or ""))
    ]

    if where.make_folder:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OperationalError(f"cannot create {dest.parent}: {exc.strerror}") from None
    elif not dest.parent.is_dir():
        raise UsageError(f"cannot write {dest}: folder {dest.parent} does not exist")
    sweep_partials(dest.parent, [dest.name, sums.name, script.name])
    with staged([script, sums, dest]) as (script_tmp, sums_tmp, tmp):
        sha256, size = write_archive(repo, cp, entries, tmp, fmt, site=site, progress=progress)
        removals = removal_list(site, entries)
        write_new(sums_tmp, checksum_line(sha256, dest.name), mode=0o644)
        info = ScriptInfo(
            script_name=script.name,
            archive_name=dest.name,
            sha256=sha256,
            fmt=fmt,
            site_root=os.fspath(site.root),
            repository=repository_inside(site),
            checkpoint=cp,
            health=site.config.health,
            hooks=site.config.after_restore,
            removals=removals,
        )
        write_new(script_tmp, render_restore_script(info), mode=0o755)
        os.chmod(script_tmp, 0o755)  # whatever the umask: the operator runs it
    return ExportResult(
        cp, dest, sums, script, sha256, size, fmt, len(entries), len(removals), warnings
    )


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
    site: Site,
    progress: Progress,
) -> tuple[str, int]:
    """Stream the archive into ``path`` (created, mode 0600: it holds the site's secrets) and
    fsync it; its SHA-256 (hex) and size."""
    created_s = created_seconds(cp)
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
            for member, data in metadata_members(cp, entries, site=site):
                tar.addfile(member, io.BytesIO(data))
            for entry in entries:
                add_entry(tar, repo, entry)
                progress.advance(entry.size)
        f.flush()
        os.fsync(f.fileno())
    progress.finish()
    return raw.sha256.hexdigest(), raw.size


def metadata_members(
    cp: Checkpoint, entries: list[Entry], *, site: Site
) -> Iterable[tuple[tarfile.TarInfo, bytes]]:
    """The reserved folder: archive.json, the record (byte for byte), the note."""
    info = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "checkpoint": cp.id,
        "site": site.root.name,
        "root": os.fspath(site.root),
        "entries": len(entries),
        "files": cp.files,
        "bytes": cp.bytes,
        "safepoint": __version__,
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


def repository_inside(site: Site) -> str | None:
    """The repository's path relative to the site root, when it lies inside it."""
    root = os.path.realpath(site.root)
    repo = os.path.realpath(site.config.repository)
    rel = os.path.relpath(repo, root)
    if rel in (".", "..") or rel.startswith("../"):
        return None
    return rel


def removal_list(site: Site, entries: list[Entry]) -> list[tuple[str, str]]:
    """The paths a restore script may remove: those the site tracks now, on disk or in its
    newest checkpoint, that ``entries`` do not hold; (kind, path), deepest first. Only paths
    the site's current rules track, so never an excluded one."""
    tracked: dict[str, str] = {}
    root = site.root
    if root.is_dir():
        for e in scan_tree(root, site.rules).entries:
            tracked[e.path] = e.kind
    checkpoints = site.repository.checkpoints()
    if checkpoints:
        tracker = Tracker(
            site.rules,
            is_venv=lambda d: os.path.lexists(os.path.join(root, d, "pyvenv.cfg")),
        )
        for e in site.repository.load_manifest(checkpoints[0]):
            if e.path not in tracked and tracker.tracks(e.path, is_dir=e.kind == DIR):
                tracked[e.path] = e.kind
    keep = {e.path for e in entries}
    out = [(kind, path) for path, kind in tracked.items() if path not in keep]
    out.sort(key=lambda kp: kp[1], reverse=True)
    return out
