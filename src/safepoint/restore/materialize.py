"""``restore --to``: a checkpoint written into an empty (or new) directory.

Every blob is hash-checked before its file is written. Nothing in the target existed before,
so a failure (a damaged blob, a full disk) removes everything this restore wrote and leaves the
target as it was. Files are not fsynced one by one: the result is a fresh copy, like ``tar x``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from safepoint.errors import IntegrityError, OperationalError, UsageError
from safepoint.model.entry import DIR, FILE, SYMLINK, Entry
from safepoint.parallel import map_each
from safepoint.progress import NullProgress, Progress
from safepoint.restore.files import make_symlink, set_meta, write_file
from safepoint.store.pack import Location, pack_order
from safepoint.store.repository import Repository


def restore_to(
    repo: Repository, entries: list[Entry], target: Path, *, progress: Progress | None = None
) -> None:
    progress = progress or NullProgress()
    created = _prepare_target(target)
    try:
        locations = locate_blobs(repo, entries)
        _write_tree(repo, entries, os.fspath(target), locations, progress)
    except BaseException:
        _undo(target, created)
        raise


def locate_blobs(repo: Repository, entries: Iterable[Entry]) -> dict[bytes, Location]:
    """The location of every blob the entries need, their packs made readable (a remote
    repository's cache downloads them up front, a few at once); IntegrityError naming a path
    if one is missing, before anything is written."""
    wanted = {bytes.fromhex(e.blob): e for e in entries if e.kind == FILE and e.blob}
    found = repo.index.lookup_many(wanted)
    for blob_id, entry in wanted.items():
        if blob_id not in found:
            raise IntegrityError(
                f"{entry.path}: its content (blob {blob_id.hex()[:12]}) is "
                "missing from the repository"
            )
    repo.prefetch(found.values())
    return found


def _write_tree(
    repo: Repository,
    entries: list[Entry],
    root: str,
    locations: dict[bytes, Location],
    progress: Progress,
) -> None:
    dirs = [e for e in entries if e.kind == DIR]
    files = [e for e in entries if e.kind == FILE]
    for d in dirs:
        os.mkdir(os.path.join(root, d.path), 0o700)
    # Read packs in order: sequential I/O, and each pack's pages are touched once.
    files.sort(key=lambda e: pack_order(locations[bytes.fromhex(e.blob or "")]))
    progress.start("restore", sum(e.size for e in files))

    def write_one(entry: Entry) -> None:
        loc = locations[bytes.fromhex(entry.blob or "")]
        try:
            write_file(os.path.join(root, entry.path), repo.content(loc), entry)
        except IntegrityError as exc:
            raise IntegrityError(f"{entry.path}: {exc}") from None
        progress.advance(entry.size)

    for _ in map_each(write_one, files, lambda e: e.size):
        pass
    for e in entries:
        if e.kind == SYMLINK:
            make_symlink(os.path.join(root, e.path), e, replace=False)
    for d in reversed(dirs):  # children before parents: setting a child's mtime touches the parent
        set_meta(os.path.join(root, d.path), d)
    progress.finish()


def _prepare_target(target: Path) -> bool:
    """Check the target is empty or absent; create it. True if this restore created it."""
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise UsageError(f"restore target {target} exists and is not a directory")
        if any(target.iterdir()):
            raise UsageError(f"restore target {target} is not empty")
        return False
    try:
        target.mkdir(parents=True)
    except OSError as exc:
        raise OperationalError(f"cannot create {target}: {exc.strerror}") from None
    return True


def _undo(target: Path, created: bool) -> None:
    if created:
        shutil.rmtree(target, ignore_errors=True)
        return
    for child in target.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
