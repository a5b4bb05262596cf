"""Reading a tar archive for import, safely: nothing is extracted, and every member is checked
before anything is stored.

``read_archive`` is the first pass: it reads the whole archive (so damage anywhere, a bad
CRC or a truncated end, is found before anything is written) and hashes every file's content.
Every member must have a canonical path (no absolute path, no '..', no NUL) and appear once;
hard links must name an earlier regular file (they are kept as copies of it). Then a
``select`` policy (the site's exclude rules) picks the members to keep, and those must also
not lie under a symlink or a file, be symlinks that stay inside the root, and not be device
files, fifos or other special entries. Excluded members are only skipped: a hand-made archive
of a site holds a virtual environment whose ``bin/python`` links to ``/usr/bin``. What
``read_archive`` returns is exactly what a later restore may write.
``read_contents`` is the second pass: the data of the members still to be stored, in pieces
(never a member whole in memory), checked against the hash of the first pass.

Both passes stream: tar headers are not kept (tarfile would keep every one), and the limits
of ``limits`` (member size, compression ratio, entry count, values a restore could not
write, oversized tar headers) are enforced as the archive is read, so a hostile archive is
refused early, with the entry named, and in bounded memory.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, BinaryIO, cast

from safepoint.archive.compress import (
    DAMAGE_ERRORS,
    READ_CHUNK,
    CountingReader,
    open_decompressed,
)
from safepoint.archive.dbmember import ENGINES
from safepoint.archive.layout import META_DIR
from safepoint.archive.limits import (
    Budget,
    CheckedTarInfo,
    GuardedStream,
    ImportLimits,
    LimitError,
    member_problem,
    mtime_ns,
)
from safepoint.archive.meta import ArchiveMeta, check_count, parse_meta
from safepoint.archive.paths import (
    UnsafePathError,
    display,
    link_problem,
    member_path,
    validate_path,
)
from safepoint.errors import IntegrityError, OperationalError, UsageError
from safepoint.model.entry import DIR, FILE, SYMLINK, Entry

META_LIMIT = 16 * 1024 * 1024  # the reserved files are small; refuse to hold more in memory
SPECIAL = "s"  # a device, fifo or unknown member: never stored


@dataclass(frozen=True, slots=True)
class Member:
    """One entry of the archive as it will be imported. ``index`` is its position among all
    the archive's members and ``name`` its name there; ``path`` is canonical. A hard link is
    a FILE whose ``index`` is that of the file it copies (the second pass reads that one)."""

    index: int
    name: str
    path: str
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    target: str | None = None
    blob: str | None = None
    special: str | None = None  # what the member is when it is none of FILE, DIR, SYMLINK

    def entry(self) -> Entry:
        return Entry(
            self.path,
            self.kind,
            self.mode,
            self.uid,
            self.gid,
            self.size,
            self.mtime_ns,
            target=self.target,
            blob=self.blob,
        )


@dataclass(frozen=True)
class ArchiveContents:
    members: list[Member]  # the kept entries, in archive order, then implied folders
    meta: ArchiveMeta | None
    stripped: str | None  # the single top folder removed from every path, if any
    skipped: list[str]  # what the select policy left out
    database: Member | None = None  # an export's database snapshot (archive/dbmember.py)


# A select policy: (kept, paths reported as skipped) from all the archive's members.
Select = Callable[[list[Member]], tuple[list[Member], list[str]]]


def keep_all(members: list[Member]) -> tuple[list[Member], list[str]]:
    return members, []


def refuse(archive: Path, name: str, reason: str) -> UnsafePathError:
    return UnsafePathError(f"{archive.name}: refused entry {display(name)}: {reason}")


@contextmanager
def open_tar(
    archive: Path, budget: Budget, advance: Callable[[int], None] | None = None
) -> Iterator[tarfile.TarFile]:
    """The archive as a tar stream, read once from start to end, counted against ``budget``."""
    try:
        f = archive.open("rb")
    except OSError as exc:
        raise OperationalError(f"cannot read {archive}: {exc.strerror}") from None

    def read(n: int) -> None:
        budget.read(n)
        if advance is not None:
            advance(n)

    with f:
        head = f.read(6)
        f.seek(0)
        source = CountingReader(f, read)
        plain = open_decompressed(head, source, archive.name)  # type: ignore[arg-type]
        stream = cast(BinaryIO, GuardedStream(plain, budget))
        try:
            tar = tarfile.open(  # noqa: SIM115 (closed below; ReadError is caught here)
                fileobj=stream,
                mode="r|",
                encoding="utf-8",
                errors="surrogateescape",
                tarinfo=CheckedTarInfo,
            )
        except tarfile.ReadError as exc:
            raise UsageError(f"{archive.name} is not a tar archive ({exc})") from None
        except DAMAGE_ERRORS as exc:
            raise IntegrityError(f"{archive.name}: damaged archive: {exc}") from None
        except LimitError as exc:
            raise UsageError(f"{archive.name}: refused its first entry: {exc}") from None
        with tar:
            yield tar


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Every member header in order, none kept: tarfile keeps each one it reads, which for an
    archive of millions of entries is gigabytes."""
    while (ti := tar.next()) is not None:
        tar.members.clear()  # type: ignore[attr-defined]
        yield ti


def read_archive(
    archive: Path,
    *,
    select: Select = keep_all,
    advance: Callable[[int], None] | None = None,
    limits: ImportLimits | None = None,
) -> ArchiveContents:
    """The first pass (see the module's docstring)."""
    limits = limits or ImportLimits()
    budget = Budget(limits)
    members: list[Member] = []
    meta_files: dict[str, bytes] = {}
    links: dict[int, str] = {}  # index of a hard link -> canonical name of what it links to
    has_root = False
    database: Member | None = None
    last = "(start)"
    where = "its first entry"  # for a limit met while reading
    with open_tar(archive, budget, advance) as tar:
        try:
            for index, ti in enumerate(_members(tar)):
                last = ti.name
                where = f"entry {display(ti.name)}"
                if index >= limits.max_entries:
                    raise LimitError(
                        f"more than {limits.max_entries} entries (--max-entries raises the limit)"
                    )
                try:
                    path = member_path(ti.name)
                except UnsafePathError as exc:
                    raise refuse(archive, ti.name, str(exc)) from None
                problem = member_problem(ti, path, limits) if path else None
                if problem is not None:
                    raise refuse(archive, ti.name, problem)
                if not path:
                    has_root = True
                    continue
                if path.split("/")[0] == META_DIR:
                    if path.partition("/")[2] in ENGINES:
                        if ti.isreg():  # hashed now, stored by the second pass
                            database = Member(
                                index, ti.name, path, FILE, 0o600, 0, 0, ti.size, 0,
                                blob=_hash(tar, ti, budget),
                            )  # fmt: skip
                        continue
                    if ti.isreg() and path.count("/") == 1:
                        meta_files[path.partition("/")[2]] = _read_meta(archive, tar, ti)
                    continue
                kind, special = _kind(ti)
                blob = _hash(tar, ti, budget) if kind == FILE and not ti.islnk() else None
                if ti.islnk():
                    try:
                        links[index] = member_path(ti.linkname)
                    except UnsafePathError as exc:
                        raise refuse(
                            archive, ti.name, f"hard link outside the archive: {exc}"
                        ) from None
                members.append(
                    Member(
                        index,
                        ti.name,
                        path,
                        kind,
                        ti.mode & 0o7777,
                        ti.uid,
                        ti.gid,
                        ti.size if kind == FILE else 0,
                        mtime_ns(ti),
                        target=ti.linkname if kind == SYMLINK else None,
                        blob=blob,
                        special=special,
                    )
                )
                where = f"the entry after {display(ti.name)}"
            _check_end(archive, tar, last)
        except DAMAGE_ERRORS as exc:
            raise IntegrityError(
                f"{archive.name}: damaged or truncated archive (after entry {display(last)}): {exc}"
            ) from None
        except LimitError as exc:
            raise UsageError(f"{archive.name}: refused {where}: {exc}") from None
    meta = parse_meta(archive, meta_files) if meta_files else None
    stripped = None
    if meta is None and not has_root:
        stripped = _single_top(members)
        if stripped is not None:
            members, links = _strip(archive, stripped, members, links)
    if not members and meta is None:
        raise UsageError(f"{archive.name} holds no files")
    members = _resolve_links(archive, members, links)
    if meta is not None:
        check_count(archive, meta, len(members), sum(m.size for m in members if m.kind == FILE))
    kept, skipped = select(members)
    _check_tree(archive, kept, {m.path: m.kind for m in members})
    database = database if meta is not None else None  # a snapshot without its record: left
    return ArchiveContents(_add_parents(kept), meta, stripped, skipped, database)


def read_contents(
    archive: Path, wanted: list[Member], *, limits: ImportLimits | None = None
) -> Iterator[tuple[Member, Iterator[bytes]]]:
    """The second pass: the content of each member in ``wanted`` (regular files), found by
    position, as pieces of at most ``READ_CHUNK`` bytes; the caller reads them before asking
    for the next member. After the last piece the content is checked against the hash the
    first pass computed (IntegrityError when the archive changed in between)."""
    todo = {m.index: m for m in wanted}
    if not todo:
        return
    changed = IntegrityError(f"{archive.name} changed while it was imported")
    with open_tar(archive, Budget(limits or ImportLimits())) as tar:
        try:
            for index, ti in enumerate(_members(tar)):
                member = todo.pop(index, None)
                if member is None:
                    continue
                f = tar.extractfile(ti) if ti.isreg() else None
                if f is None or ti.size != member.size:
                    raise changed
                yield member, _checked_pieces(f, member, changed)
                if not todo:
                    return
        except DAMAGE_ERRORS as exc:
            raise IntegrityError(f"{archive.name}: damaged archive: {exc}") from None
        except LimitError as exc:
            raise UsageError(f"{archive.name}: refused: {exc}") from None
    if todo:
        raise changed


def _checked_pieces(f: IO[bytes], member: Member, changed: IntegrityError) -> Iterator[bytes]:
    digest = hashlib.sha256()
    while piece := f.read(READ_CHUNK):
        digest.update(piece)
        yield piece
    if digest.hexdigest() != member.blob:
        raise changed


# -- one member ------------------------------------------------------------------------------


def _kind(ti: tarfile.TarInfo) -> tuple[str, str | None]:
    """The member's kind, and for a special member what it is (refused if it is kept)."""
    if ti.isreg() or ti.islnk():
        return FILE, None
    if ti.isdir():
        return DIR, None
    if ti.issym():
        return SYMLINK, None
    if ti.ischr() or ti.isblk():
        return SPECIAL, "device file"
    if ti.isfifo():
        return SPECIAL, "fifo"
    return SPECIAL, f"unsupported entry type {ti.type!r}"


def _hash(tar: tarfile.TarFile, ti: tarfile.TarInfo, budget: Budget) -> str:
    digest = hashlib.sha256()
    f = tar.extractfile(ti)
    if f is not None:
        while chunk := f.read(READ_CHUNK):
            digest.update(chunk)
            budget.content(len(chunk))  # a sparse member's holes never pass the decompressor
    return digest.hexdigest()


def _read_meta(archive: Path, tar: tarfile.TarFile, ti: tarfile.TarInfo) -> bytes:
    if ti.size > META_LIMIT:
        raise refuse(archive, ti.name, f"reserved file larger than {META_LIMIT} bytes")
    f = tar.extractfile(ti)
    return f.read() if f is not None else b""


def _check_end(archive: Path, tar: tarfile.TarFile, last: str) -> None:
    """After the last member only zeros may follow, to the end of the compressed stream.
    tarfile stops quietly at a damaged header; reading on also makes gzip check its CRC and
    every decompressor notice a truncated end."""
    stream = tar.fileobj
    assert stream is not None
    while chunk := stream.read(READ_CHUNK):
        if chunk.count(0) != len(chunk):
            raise IntegrityError(
                f"{archive.name}: damaged archive: unreadable tar header after entry "
                f"{display(last)}"
            )


# -- the whole tree ---------------------------------------------------------------------------


def _single_top(members: list[Member]) -> str | None:
    """The one folder every member is in (``tar czf x.tgz site/``), if there is one."""
    tops = {m.path.split("/")[0] for m in members}
    if len(tops) != 1:
        return None
    (top,) = tops
    if any(m.path == top and m.kind != DIR for m in members):
        return None
    return top


def _strip(
    archive: Path, top: str, members: list[Member], links: dict[int, str]
) -> tuple[list[Member], dict[int, str]]:
    prefix = top + "/"
    out = [replace(m, path=m.path[len(prefix) :]) for m in members if m.path != top]
    stripped_links = {}
    for index, target in links.items():
        if not target.startswith(prefix):
            name = next(m.name for m in members if m.index == index)
            raise refuse(archive, name, f"hard link to {display(target)}, outside {top}/")
        stripped_links[index] = target[len(prefix) :]
    return out, stripped_links


def _resolve_links(archive: Path, members: list[Member], links: dict[int, str]) -> list[Member]:
    """Turn each hard link into a copy of the earlier regular file it names; refuse
    duplicates."""
    seen: dict[str, Member] = {}
    out = []
    for m in members:
        if m.path in seen:
            raise refuse(archive, m.name, "duplicate entry (the path appears twice)")
        target = links.get(m.index)
        if target is not None:
            source = seen.get(target)
            if source is None or source.kind != FILE:
                raise refuse(
                    archive,
                    m.name,
                    f"hard link to {display(target)}, which is not an earlier file in the archive",
                )
            m = replace(m, index=source.index, size=source.size, blob=source.blob)
        seen[m.path] = m
        out.append(m)
    return out


def _check_tree(archive: Path, kept: list[Member], kinds: dict[str, str]) -> None:
    """What is kept: canonical paths, no special files, nothing under a symlink or a file of
    the archive (``kinds``: every member's), symlinks that stay inside."""
    for m in kept:
        try:
            validate_path(m.path)
        except UnsafePathError as exc:
            raise refuse(archive, m.name, str(exc)) from None
        if m.special is not None:
            raise refuse(
                archive, m.name, f"{m.special} (only files, folders and symlinks are imported)"
            )
        parts = m.path.split("/")
        for i in range(1, len(parts)):
            above = "/".join(parts[:i])
            kind = kinds.get(above)
            if kind == SYMLINK:
                raise refuse(archive, m.name, f"path goes through the symlink {display(above)}")
            if kind in (FILE, SPECIAL):
                raise refuse(archive, m.name, f"path is under the file {display(above)}")
        if m.kind == SYMLINK:
            problem = link_problem(m.path, m.target or "")
            if problem is not None:
                raise refuse(archive, m.name, problem)


def _add_parents(members: list[Member]) -> list[Member]:
    """Folders the archive implies but does not list get an entry (mode 0755)."""
    present = {m.path for m in members}
    out = list(members)
    for m in members:
        parts = m.path.split("/")
        for i in range(1, len(parts)):
            above = "/".join(parts[:i])
            if above not in present:
                present.add(above)
                out.append(
                    replace(m, path=above, kind=DIR, mode=0o755, size=0, blob=None, target=None)
                )
    return out
