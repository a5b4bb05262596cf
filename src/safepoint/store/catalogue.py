"""The catalogue: one file that caches every checkpoint record and every marks file, so that a
command resolving a reference reads one file instead of one per checkpoint.

``catalogue`` in the repository::

    b"SPCAT1\\n" | BLAKE2b-128 of the body (16 bytes) | body

The body is Python ``marshal`` data (version 4): ``{"version": 1, "records": {name: row},
"skipped": {name: why}, "marks": {id: dict}, "marks_stamp": (ino, mtime_ns) | None}``. ``row``
is a record's fields in ``FIELDS`` order; ``skipped`` the ``checkpoints/*.json`` files that were
not readable records (named again in each listing's warnings, reported by ``verify``).

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

import hashlib
import marshal
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from safepoint.errors import IntegrityError
from safepoint.store.records import Checkpoint, Marks, parse_record, read_marks_doc

MAGIC = b"SPCAT1\n"
VERSION = 1
REWRITE_AFTER = 16
RACY_NS = 2_000_000_000
FIELDS = tuple(f.name for f in fields(Checkpoint) if f.name not in ("id", "marks"))
_MARK_FIELDS = frozenset(f.name for f in fields(Marks))
_NO_MARKS = Marks()


@dataclass
class Listing:
    checkpoints: list[Checkpoint]
    skipped: dict[str, str] = field(default_factory=dict)  # file name -> why it was left out


def load_checkpoints(
    path: Path, records_dir: Path, marks_dir: Path, *, write: bool = True
) -> Listing:
    """Every readable record of ``records_dir`` with its marks, newest first, through the
    catalogue at ``path`` (refreshed as needed; written back when ``write``)."""
    names = [n for n in os.listdir(records_dir) if n.endswith(".json") and n[0] != "."]
    cat = _read(path)
    rows: dict[str, tuple[Any, ...]] = cat.get("records", {})
    skipped: dict[str, str] = cat.get("skipped", {})
    fresh_rows, fresh_skipped, changes = {}, {}, 0
    for name in names:
        row = rows.get(name)
        if row is not None:
            fresh_rows[name] = row
        elif name in skipped:
            fresh_skipped[name] = skipped[name]
        else:
            changes += 1
            try:
                fresh_rows[name] = _row(parse_record(name, (records_dir / name).read_bytes()))
            except FileNotFoundError:
                continue  # forgotten (renamed away) since the listing
            except IntegrityError as exc:
                fresh_skipped[name] = str(exc)
            except OSError as exc:
                fresh_skipped[name] = f"unreadable: {exc.strerror or exc}"
    changes += sum(1 for n in rows if n not in fresh_rows)
    changes += sum(1 for n in skipped if n not in fresh_skipped)

    stamp, cached = _marks_stamp(marks_dir), cat.get("marks")
    marks_read = cached is None or stamp is None or cat.get("marks_stamp") != stamp
    marks: dict[str, dict[str, Any]] = _read_marks(marks_dir) if marks_read else cached or {}
    if write and (not cat or marks_read or changes > REWRITE_AFTER):
        _write(path, fresh_rows, fresh_skipped, marks, stamp)
    out = [_checkpoint(name, row, marks) for name, row in fresh_rows.items()]
    out.sort(key=_created, reverse=True)
    return Listing(out, fresh_skipped)


def _created(cp: Checkpoint) -> str:
    return cp.created


def _row(cp: Checkpoint) -> tuple[Any, ...]:
    return tuple(getattr(cp, name) for name in FIELDS)


def _checkpoint(name: str, row: tuple[Any, ...], marks: dict[str, dict[str, Any]]) -> Checkpoint:
    cid = name[:-5]
    doc = marks.get(cid)
    return Checkpoint(cid, *row, marks=_NO_MARKS if doc is None else _marks(doc))  # type: ignore[misc]


def _marks(doc: dict[str, Any]) -> Marks:
    try:
        return Marks(**{k: v for k, v in doc.items() if k in _MARK_FIELDS})
    except TypeError:
        return _NO_MARKS


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
    head = len(MAGIC) + 16
    if (
        data[: len(MAGIC)] != MAGIC
        or hashlib.blake2b(data[head:], digest_size=16).digest() != (data[len(MAGIC) : head])
    ):
        return {}
    try:
        doc = marshal.loads(data[head:])
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        return {}
    return doc


def _write(
    path: Path,
    rows: dict[str, tuple[Any, ...]],
    skipped: dict[str, str],
    marks: dict[str, dict[str, Any]],
    stamp: tuple[int, int] | None,
) -> None:
    doc = {
        "version": VERSION,
        "records": rows,
        "skipped": skipped,
        "marks": marks,
        "marks_stamp": stamp,
    }
    body = marshal.dumps(doc, 4)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + hashlib.blake2b(body, digest_size=16).digest() + body)
        os.replace(tmp, path)
    except OSError:  # a cache: a read-only or full repository just goes without
        tmp.unlink(missing_ok=True)


def drop(path: Path) -> None:
    """Forget the cache (the next reader rebuilds it)."""
    path.unlink(missing_ok=True)
