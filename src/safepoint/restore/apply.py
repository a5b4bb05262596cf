"""Applying a plan to a live root in two phases.

``stage_files``: every new file content is read from the repository (hash-checked), written to a
temporary name (``.safepoint-tmp-<nonce>-*``) in the nearest directory that already exists,
and fsynced. Nothing the site serves has changed yet; a failure here (a damaged blob, a full
disk) removes the temporary files and leaves the site exactly as it was.

``switch``: removals, new directories, renames of the staged files over the old ones, symlinks,
then modes, owners and mtimes. Each step is atomic for its path; an interruption leaves a mix of
old and new paths, which ``recover`` finishes (it re-plans from what is on disk) under the
journal. Unchanged files are never touched.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from safepoint.diskspace import with_path
from safepoint.errors import IntegrityError
from safepoint.model.entry import DIR, FILE, SYMLINK
from safepoint.parallel import map_each
from safepoint.progress import NullProgress, Progress
from safepoint.restore.files import make_symlink, set_link_meta, set_meta, temp_name, write_file
from safepoint.restore.materialize import locate_blobs
from safepoint.restore.plan import Plan
from safepoint.scan.rules import TEMP_PREFIX
from safepoint.store.atomic import fsync_dir
from safepoint.store.pack import pack_order
from safepoint.store.repository import Repository


def stage_files(
    repo: Repository,
    root: Path,
    plan: Plan,
    existing_dirs: set[str],
    *,
    nonce: str,
    progress: Progress | None = None,
) -> dict[str, str]:
    """Write the plan's new file contents under temporary names; returns path -> temp path."""
    progress = progress or NullProgress()
    locations = locate_blobs(repo, plan.write)
    removed_dirs = {e.path for e in plan.remove if e.kind == DIR}
    base = os.fspath(root)
    staged: dict[str, str] = {}
    jobs = []
    for entry in sorted(plan.write, key=lambda e: pack_order(locations[_blob(e.blob)])):
        home = _nearest_dir(entry.path, existing_dirs - removed_dirs)
        tmp = os.path.join(base, temp_name(f"{home}/x" if home else "x", nonce))
        staged[entry.path] = tmp
        jobs.append((entry, tmp))
    progress.start("staging", plan.write_bytes)

    def one(job: tuple) -> None:
        entry, tmp = job
        try:
            write_file(tmp, repo.content(locations[_blob(entry.blob)]), entry, fsync=True)
        except IntegrityError as exc:
            raise IntegrityError(f"{entry.path}: {exc}") from None
        except OSError as exc:
            raise with_path(exc, tmp) from None  # os.write names no file (a full disk)
        progress.advance(entry.size)

    try:
        for _ in map_each(one, jobs, lambda job: job[0].size):
            pass
    except BaseException:
        discard_staged(staged.values())
        raise
    finally:
        progress.finish()
    return staged


def discard_staged(paths: Iterable[str]) -> None:
    for tmp in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def switch(
    root: Path,
    plan: Plan,
    staged: dict[str, str],
    *,
    nonce: str,
    warn: Callable[[str], None] = lambda _: None,
) -> None:
    """Make the site's tracked paths equal to the plan's target (see the module docstring)."""
    base = os.fspath(root)
    touched_dirs = {""}

    def at(rel: str) -> str:
        touched_dirs.add(rel.rpartition("/")[0])
        return os.path.join(base, rel)

    keep = set(plan.keep_dirs)
    for e in plan.remove:
        path = at(e.path)
        if e.kind == DIR:
            if e.path in keep:
                warn(f"kept directory {e.path}: it holds files excluded from checkpoints")
                continue
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno != errno.ENOTEMPTY:
                    raise
                warn(f"kept directory {e.path}: it is not empty")
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    for e in plan.mkdir:
        path = at(e.path)
        try:
            os.mkdir(path, 0o700)  # final mode once its content is in place
        except FileExistsError:
            if not os.path.isdir(path) or os.path.islink(path):
                raise
    for e in plan.write:
        os.replace(staged[e.path], at(e.path))
    for e in plan.link:
        make_symlink(at(e.path), e, replace=True, nonce=nonce)
    for e in plan.restamp:
        if e.kind == SYMLINK:
            set_link_meta(at(e.path), e)
        elif e.kind == FILE:
            set_meta(at(e.path), e)
    for e in plan.dir_meta:
        set_meta(os.path.join(base, e.path), e)
    for rel in touched_dirs:  # a parent of a removed path may be gone or a file by now
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            fsync_dir(Path(base, rel))


def remove_temp_files(root: Path, dirs: list[str], nonce: str = "") -> int:
    """Delete leftovers of an interrupted rollback in ``dirs`` (relative; "" is the root)."""
    prefix = f"{TEMP_PREFIX}{nonce}"
    removed = 0
    for rel in dirs:
        path = os.path.join(os.fspath(root), rel)
        try:
            names = os.listdir(path)
        except OSError:
            continue
        for name in names:
            if name.startswith(prefix):
                try:
                    os.unlink(os.path.join(path, name))
                    removed += 1
                except OSError:
                    pass
    return removed


def _nearest_dir(path: str, dirs: set[str]) -> str:
    head = path.rpartition("/")[0]
    while head and head not in dirs:
        head = head.rpartition("/")[0]
    return head


def _blob(blob: str | None) -> bytes:
    return bytes.fromhex(blob or "")
