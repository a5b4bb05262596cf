"""The catalogue: one file that caches every checkpoint record and every marks file, so that a
command resolving a reference reads one file instead of one per checkpoint.

``catalogue`` in the repository::

    b"SPCAT1\\n" | CRC-32 of the body (4 bytes, big-endian) | body length (4) | body

The body is Python ``marshal`` data (version 4): ``{"version": 1, "fields": FIELDS, "names":
[file name], "created": [ISO time], "rows": [bytes], "skipped": {name: why}, "marks": {id:
dict}, "marks_stamp": (ino, mtime_ns) | None}``; the lists newest first, each row the
``marshal`` of one record's fields in ``FIELDS`` order, decoded only when that checkpoint is
looked at (``Checkpoints``: ``show latest`` among 10,000 decodes one or two). ``skipped``: the
``checkpoints/*.json`` files that were not readable records (reported by ``verify``).

It is a cache, never the truth. Each reader checks it against the directories:

- ``checkpoints/``: one listing. Records are never modified and named by their hash, so the
  same name means the same content: names missing from the catalogue are read (and checked),
  names gone from the directory are dropped. With more than ``REWRITE_AFTER`` such
  differences the catalogue is written again; with fewer (the record a ``create`` just
  wrote) the few records are read each time, which costs less than rewriting.
- ``marks/``: replaced by rename, so any change updates the directory's mtime. The catalogue
  keeps the directory's (inode, mtime) as it was before the marks were read; when it differs,
  every marks file is read again and the catalogue rewritten. A stamp less than ``RACY_NS``
  old is not kept (a mark written in the same clock tick would leave the mtime as it was), so
  marks written just before are read from their files until the stamp has aged.

Missing, damaged (checksum), of another version or unreadable: rebuilt from the directories.
It is written to ``.catalogue.tmp-PID`` and renamed, not fsynced (after a crash, the checksum
tells a torn file); readers write it too, and concurrent writers each write a snapshot that
was true when it was read, which the next reader checks like any other.
"""

from __future__ import annotations

import marshal
import os
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, overload

from safepoint.errors import IntegrityError
from safepoint.store.records import (
    Checkpoint,
    Marks,
    marks_from_doc,
    parse_record,
    read_marks_doc,
    this_host,
)

MAGIC = b"SPCAT1\n"
VERSION = 1
REWRITE_AFTER = 16
RACY_NS = 2_000_000_000
FIELDS = tuple(f.name for f in fields(Checkpoint) if f.name != "marks")  # "id" first
assert FIELDS[0] == "id"
Row = tuple[Any, ...]
_NO_MARKS = Marks()


@dataclass
class Listing:
    checkpoints: Checkpoints
    skipped: dict[str, str] = field(default_factory=dict)  # file name -> why it was left out


def load_checkpoints(
    path: Path, records_dir: Path, marks_dir: Path, *, write: bool = True
) -> Listing:
    """Every readable record of ``records_dir`` with its marks, newest first, through the
    catalogue at ``path`` (refreshed as needed; written back when ``write``)."""
    names = {n for n in os.listdir(records_dir) if n.endswith(".json") and n[0] != "."}
    cat = _read(path)
    known: list[str] = cat.get("names", [])
    skipped: dict[str, str] = cat.get("skipped", {})
    # In the catalogue's order (newest first): with nothing new, no sorting at all.
    rows: list[bytes] = cat.get("rows", [])
    created: list[str] = cat.get("created", [])
    if len(names) == len(known) + len(skipped) and names.issuperset(known):
        entries = None  # the common case: the catalogue lists exactly these records
    else:
        entries = [e for e in zip(known, created, rows, strict=True) if e[0] in names]
    fresh_skipped = {name: why for name, why in skipped.items() if name in names}
    if entries is None and len(fresh_skipped) == len(skipped):
        return _finish(path, cat, marks_dir, known, created, rows, skipped, 0, write=write)
    if entries is None:
        entries = list(zip(known, created, rows, strict=True))
    changes = len(known) - len(entries) + len(skipped) - len(fresh_skipped)
    added = []
    for name in names.difference(known, skipped):
        changes += 1
        try:
            cp = parse_record(name, (records_dir / name).read_bytes())
        except FileNotFoundError:
            continue  # forgotten (renamed away) since the listing
        except IntegrityError as exc:
            fresh_skipped[name] = str(exc)
        except OSError as exc:
            fresh_skipped[name] = f"unreadable: {exc.strerror or exc}"
        else:
            added.append((name, cp.created, marshal.dumps(_row(cp), 4)))
    if added:  # ISO text, as records were always sorted
        entries = sorted(entries + added, key=lambda e: e[1], reverse=True)
    return _finish(
        path,
        cat,
        marks_dir,
        [e[0] for e in entries],
        [e[1] for e in entries],
        [e[2] for e in entries],
        fresh_skipped,
        changes,
        write=write,
    )


def _finish(
    path: Path,
    cat: dict[str, Any],
    marks_dir: Path,
    names: list[str],
    created: list[str],
    rows: list[bytes],
    skipped: dict[str, str],
    changes: int,
    *,
    write: bool,
) -> Listing:
    """The marks, and the catalogue written back when it is worth it."""
    stamp, cached = _marks_stamp(marks_dir), cat.get("marks")
    marks_read = cached is None or stamp is None or cat.get("marks_stamp") != stamp
    marks: dict[str, dict[str, Any]] = _read_marks(marks_dir) if marks_read else cached or {}
    if write and (not cat or marks_read or changes > REWRITE_AFTER):
        doc = {
            "version": VERSION,
            "fields": FIELDS,  # a record format with other fields makes this catalogue stale
            "names": names,
            "created": created,
            "rows": rows,  # each decoded only when its checkpoint is looked at
            "skipped": skipped,
            "marks": marks,
            "marks_stamp": stamp,
        }
        _write(path, marshal.dumps(doc, 4))
    return Listing(Checkpoints(rows, marks), skipped)


Entry = tuple[str, str, bytes]  # file name, created, the record's fields (marshal of a Row)


def _row(cp: Checkpoint) -> Row:
    return tuple(getattr(cp, name) for name in FIELDS)


def _checkpoint(row: Row, marks: dict[str, dict[str, Any]]) -> Checkpoint:
    """``Checkpoint(*row)`` without the frozen dataclass's per-field ``object.__setattr__``
    (several times faster, which is most of a listing's cost with 10,000 records): the fields
    go into the instance's ``__dict__`` at once. The row holds exactly the fields
    (``FIELDS``) of a parsed and checked record."""
    attrs = dict(zip(FIELDS, row, strict=False))  # _read checked FIELDS
    doc = marks.get(row[0])
    attrs["marks"] = _NO_MARKS if doc is None else _marks(doc)
    cp = _new(Checkpoint)
    object.__setattr__(cp, "__dict__", attrs)
    return cp


_new = object.__new__


class Checkpoints(Sequence[Checkpoint]):
    """The listed checkpoints, newest first, each built when first asked for: ``show latest``
    builds one or two of 10,000."""

    def __init__(self, rows: list[bytes], marks: dict[str, dict[str, Any]]) -> None:
        self._rows, self._marks = rows, marks
        self._built: list[Checkpoint | None] = [None] * len(rows)

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> Checkpoint: ...
    @overload
    def __getitem__(self, i: slice) -> list[Checkpoint]: ...
    def __getitem__(self, i: int | slice) -> Checkpoint | list[Checkpoint]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        cp = self._built[i]
        if cp is None:
            cp = self._built[i] = _checkpoint(marshal.loads(self._rows[i]), self._marks)
        return cp

    def __iter__(self) -> Iterator[Checkpoint]:
        for i in range(len(self._rows)):
            yield self[i]

    def all(self) -> list[Checkpoint]:
        return list(self)


def _marks(doc: dict[str, Any]) -> Marks:
    return marks_from_doc(doc, this_host())  # the cache holds every host's: this one's is read


def _marks_stamp(marks_dir: Path) -> tuple[int, int] | None:
    """(inode, mtime_ns) of ``marks/``, or None when too recent to vouch for its files."""
    now = time.time_ns()
    try:
        st = os.stat(marks_dir)
    except FileNotFoundError:
        return (0, 0)
    if st.st_mtime_ns >= now - RACY_NS:
        return None
    return (st.st_ino, st.st_mtime_ns)


def _read_marks(marks_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        names = os.listdir(marks_dir)
    except FileNotFoundError:
        return {}
    out = {}
    for name in names:
        if name.endswith(".json") and name[0] != ".":
            doc = read_marks_doc(marks_dir / name)
            if doc is not None:
                out[name[:-5]] = doc
    return out


def _read(path: Path) -> dict[str, Any]:
    """The catalogue's content; {} when missing, damaged or of another version."""
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    head = len(MAGIC) + 8
    body = memoryview(data)[head:]
    if data[: len(MAGIC)] != MAGIC or _checksum(body) != data[len(MAGIC) : head]:
        return {}
    try:
        doc = marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(doc, dict) or doc.get("version") != VERSION or doc.get("fields") != FIELDS:
        return {}
    lists = [doc.get(key) for key in ("names", "created", "rows")]
    if not all(isinstance(x, list) and len(x) == len(doc["names"]) for x in lists):
        return {}
    return doc


def _write(path: Path, body: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        # mode 0600 like the records it copies (notes, labels and paths may be secret)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + _checksum(body) + body)
        os.replace(tmp, path)
    except OSError:  # a cache: a read-only or full repository just goes without
        tmp.unlink(missing_ok=True)


def _checksum(body: bytes | memoryview) -> bytes:
    """CRC-32 and length of the body: they tell a torn or damaged file (the catalogue guards
    against accidents, not attackers: whoever can write it can write the records too)."""
    return zlib.crc32(body).to_bytes(4, "big") + len(body).to_bytes(4, "big")


def drop(path: Path) -> None:
    """Forget the cache (the next reader rebuilds it)."""
    path.unlink(missing_ok=True)
