"""Before a rollback overwrites or deletes a file, the repository must be able to give it back.

A checkpoint deduplicates against the index: content the index names is not stored again, and
the tree cache spares even reading an unchanged file. When a pack has been deleted or damaged
since, a safety checkpoint still names its blobs, and undoing the rollback would then find
nothing to put back. So the files a plan is about to overwrite or delete (only those: the
changed files, a few for a typical rollback) have their blobs read back whole and hash-checked
first; a blob that is missing or damaged is stored again from the file on disk, into a new pack
that the index then names. When that is impossible (the file no longer holds that content, or
cannot be read), the rollback is refused before anything changes. Likewise the parts of the
safety checkpoint's manifest that an undo would read.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from safepoint.errors import IntegrityError
from safepoint.model.entry import FILE, Entry
from safepoint.parallel import map_each
from safepoint.scan.hashing import file_pieces, read_stable
from safepoint.scan.tree import Tree
from safepoint.store.manifest import chunk_ids, encode_top
from safepoint.store.pack import LARGE
from safepoint.store.repository import Repository
from safepoint.store.writer import BlobWriter, FileChangedError, blob_hash


def secure_replaced(repo: Repository, root: Path, entries: list[Entry]) -> int:
    """Make sure the repository holds a sound copy of each file in ``entries`` (files of the
    tree on disk); returns how many were stored again. Raises IntegrityError, naming the file
    and what is wrong with its stored copy, when one cannot be secured. The caller holds the
    repository lock."""
    files = [e for e in entries if e.kind == FILE and e.blob]
    faults = [
        (e, fault)
        for e, fault in zip(
            files,
            map_each(lambda e: repo.blob_fault(bytes.fromhex(e.blob or "")), files, _size),
            strict=True,
        )
        if fault is not None
    ]
    if not faults:
        return 0
    with repo.writer() as writer:
        done: set[str] = set()
        for entry, fault in faults:
            if entry.blob not in done:
                _store_again(writer, os.path.join(root, entry.path), entry, fault)
                done.add(entry.blob or "")
        writer.commit()
    return len(done)


def secure_manifest(repo: Repository, tree: Tree, manifest: str, beside: str) -> int:
    """Make sure the way back to a checkpoint just made from ``tree`` (manifest ``manifest``)
    is readable from the checkpoint whose manifest is ``beside``: planning it reads the top
    blob and the chunks the two do not share (ops/delta.py), so those are read back whole, and
    any that is damaged is stored again from ``tree``. Returns how many were stored again."""
    top = bytes.fromhex(manifest)
    faults: set[bytes] = set()
    if repo.blob_fault(top) is not None:
        faults.add(top)
    else:
        mine = chunk_ids(repo.read_blob(top))
        theirs = chunk_ids(repo.read_blob(bytes.fromhex(beside)))
        shared = set(theirs[0])
        for chunk_id in mine[0]:
            blob_id = bytes.fromhex(chunk_id)
            if chunk_id not in shared and repo.blob_fault(blob_id) is not None:
                faults.add(blob_id)
    if not faults:
        return 0
    with repo.writer() as writer:
        ids, count = [], 0
        for chunk, n in tree.chunks():
            blob_id = blob_hash(chunk)
            ids.append(blob_id.hex())
            count += n
            if blob_id in faults:
                writer.add(blob_id, chunk, force=True)
        if top in faults:
            data = encode_top(ids, count)
            if blob_hash(data) != top:  # the tree is not the one the checkpoint was made from
                raise IntegrityError(f"manifest {manifest} is damaged; nothing was changed")
            writer.add(top, data, force=True)
        writer.commit()
    return len(faults)


def _store_again(writer: BlobWriter, path: str, entry: Entry, fault: str) -> None:
    blob_id = bytes.fromhex(entry.blob or "")
    refused = IntegrityError(
        f"{entry.path}: its stored copy is not usable ({fault}) and the file no longer holds "
        "that content, so a rollback could not give it back; nothing was changed (make a new "
        "checkpoint with 'safepoint create', then roll back)"
    )
    try:
        if entry.size > LARGE:
            writer.add_file(blob_id, entry.size, file_pieces(path), force=True)
            return
        data, st = read_stable(path)
    except FileChangedError:
        raise refused from None
    except OSError as exc:
        raise IntegrityError(
            f"{entry.path}: its stored copy is not usable ({fault}) and the file cannot be "
            f"read ({exc.strerror}); nothing was changed"
        ) from None
    if st is None or hashlib.sha256(data).digest() != blob_id:
        raise refused
    writer.add(blob_id, data, force=True)


def _size(entry: Entry) -> int:
    return entry.size
