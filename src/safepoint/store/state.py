"""Per-root state: what belongs to one site root, not to the repository it shares with others.

A repository may be shared by several site roots (a folder outside them, or a remote). Three
files say something about one root's tree only:

- ``journal.json``: a rollback of this root in progress (``recover`` finishes it);
- ``head.json``: the checkpoint this root's tree last matched (``status`` compares with it);
- ``treecache``: what each directory of this root held when last read.

Kept in the shared repository, root A's pending recovery would block root B and B's status
would compare with A's head. So each root keeps them in its **state folder**:

- the repository folder itself when it lies inside the root (the default ``.safepoint``):
  no other root's tree is read into it by default, and today's layout stays as it was;
- ``ROOT/.safepoint-state/REPO-ID/`` otherwise (a repository outside the root, or remote),
  keyed by the repository id so that a root may switch between repositories without mixing
  their states. ``.safepoint-state`` is never part of a checkpoint (``scan/rules.py``).

Upgrade: a repository outside the root written by an older safepoint holds these files at its
top. The first root to open it adopts them (renamed into its state folder under the write
lock), so a pending recovery is never lost; a repository that lies inside another site's root
(a folder above it holds ``safepoint.toml``) is that site's, and is never adopted from.

A root whose state folder is outside the repository names it in ``REPO/roots/`` (one file per
root, holding the folder's path), so that gc and forget from any root keep the checkpoints
another root's pending rollback names.

A gc run from one root removes packs another root's tree cache may vouch for (the cache says a
file's blob is stored). gc replaces ``gc.json`` first (``store/generation.py``); each state
folder remembers the ``gc.json`` its cache was written under and drops the cache when it
changed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
from pathlib import Path

from safepoint.config import CONFIG_NAME, STATE_DIR
from safepoint.errors import OperationalError
from safepoint.store import generation
from safepoint.store.atomic import write_atomic

JOURNAL, HEAD, TREECACHE = "journal.json", "head.json", "treecache"
PER_ROOT = (JOURNAL, HEAD, TREECACHE)
GC_SEEN = "gc-seen"  # the gc.json the tree cache was written under
ROOTS = "roots"  # in a local repository: the state folders of the roots outside it


def inside(path: Path, root: Path) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base + os.sep)


def state_folder(root: Path, repo_path: Path | None, repo_id: str) -> Path:
    """Where ``root`` keeps its state for the repository ``repo_id`` (at ``repo_path`` when
    local; None for a remote one)."""
    if repo_path is not None and inside(repo_path, root):
        return repo_path
    return root / STATE_DIR / repo_id


def prepare(root: Path, repo_path: Path | None, repo_id: str) -> Path:
    """Create the state folder of ``root`` (see the module docstring), adopt an older
    repository's state, and drop a tree cache a gc made stale; returns the folder."""
    folder = state_folder(root, repo_path, repo_id)
    if repo_path is None:
        _mkdir(folder)
        return folder
    if folder != repo_path:
        _mkdir(folder)
        if _legacy(repo_path) and not _in_another_site(repo_path):
            _adopt(repo_path, folder)
        _register(repo_path, folder)
    _check_gc(repo_path, folder)
    return folder


def _register(repo_path: Path, folder: Path) -> None:
    """Name ``folder`` in ``REPO/roots/`` so that gc and forget run from any root keep what
    this root's pending rollback needs (``journals``)."""
    entry = repo_path / ROOTS / hashlib.sha256(os.fsencode(folder.absolute())).hexdigest()[:32]
    if entry.exists():
        return
    with contextlib.suppress(OSError):  # a read-only repository: nothing can be forgotten there
        entry.parent.mkdir(mode=0o700, exist_ok=True)
        write_atomic(entry, os.fsencode(folder.absolute()))


def journals(repo_path: Path, own: Path) -> list[Path]:
    """The rollback journal of every root using the repository at ``repo_path``: ``own``
    first, then the repository folder's and those of the roots registered in ``roots/``
    (a root whose state folder is gone is skipped)."""
    out = [own, repo_path / JOURNAL]
    for entry in sorted((repo_path / ROOTS).glob("*")):
        with contextlib.suppress(OSError):
            out.append(Path(os.fsdecode(entry.read_bytes())) / JOURNAL)
    return list(dict.fromkeys(out))


def id_of(doc: dict[str, object], path: Path) -> str:
    """The repository id of format.json; one written without an id is known by its path."""
    rid = doc.get("id")
    if isinstance(rid, str) and rid.isalnum():
        return rid
    return hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:32]


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise OperationalError(
            f"cannot create the state folder {folder}: {exc.strerror}"
        ) from None


def _legacy(repo_path: Path) -> bool:
    return any((repo_path / name).exists() for name in PER_ROOT)


def _in_another_site(repo_path: Path) -> bool:
    real = Path(os.path.realpath(repo_path))
    return any((folder / CONFIG_NAME).is_file() for folder in real.parents)


def _adopt(repo_path: Path, folder: Path) -> None:
    """Rename the older layout's per-root files into ``folder``, under the repository's write
    lock so that no writer of another root moves them at the same time. A lock held by another
    process: left for the next open (that writer adopted them already, or will)."""
    fd = os.open(repo_path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                return
            raise
        for name in PER_ROOT:
            old, new = repo_path / name, folder / name
            if not old.exists():
                continue
            if not new.exists():
                _move(old, new)
            elif name != JOURNAL:
                old.unlink()  # this root's own is newer; a journal is never dropped
    finally:
        os.close(fd)


def _move(old: Path, new: Path) -> None:
    """Rename, or copy durably then remove when the state folder is on another filesystem."""
    try:
        os.rename(old, new)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        write_atomic(new, old.read_bytes())
        old.unlink()


def cache_fixed(repo_path: Path, folder: Path) -> None:
    """A gc run from this root has taken the blobs it removed out of this root's tree cache
    (after it replaced ``gc.json``): the cache stays trusted; other roots' are dropped."""
    with contextlib.suppress(OSError):
        write_atomic(folder / GC_SEEN, (repo_path / generation.NAME).read_bytes())


def _check_gc(repo_path: Path, folder: Path) -> None:
    try:
        now = (repo_path / generation.NAME).read_bytes()
    except OSError:
        now = b""
    mark = folder / GC_SEEN
    try:
        before: bytes | None = mark.read_bytes()
    except OSError:
        before = None  # first open by this version: a gc before it dropped the cache itself
    if before == now:
        return
    with contextlib.suppress(OSError):  # a read-only repository: the cache stays trusted
        if before is not None:
            (folder / TREECACHE).unlink(missing_ok=True)
        write_atomic(mark, now)
