"""What a writer does when it takes the repository lock: bring the index in line with the packs
on disk, and remove what dead writers left behind.

Under the lock no other process writes to the repository, so:

- a ``NAME.pack.tmp`` is a pack whose writer died before renaming it: nothing refers to it
  (a checkpoint's record is written only after its packs are renamed and indexed); removed;
- a ``.NAME.tmp-PID`` (``store/atomic.py``, the tree cache) whose process is gone is a file
  its writer never renamed into place; removed;
- a ``.pack`` the index does not know was renamed by a writer that died before indexing it:
  its records are complete and fsynced, so it is indexed, and the next checkpoint reuses its
  blobs instead of storing them again (``gc`` deletes it if nothing needs them);
- a pack the index knows that is gone from disk: its blobs are forgotten, so that the next
  checkpoint stores them again from the site, and the tree cache is dropped, since it vouches
  that every hash it holds names a stored blob.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from safepoint.diskspace import human_size
from safepoint.errors import IntegrityError
from safepoint.store.index import Index
from safepoint.store.pack import scan_pack

ATOMIC_TMP = re.compile(r"^\..+\.tmp-(\d+)$")  # store/atomic.py, the tree cache


@dataclass
class Upkeep:
    removed: list[Path] = field(default_factory=list)  # leftovers of dead writers
    freed: int = 0  # their bytes
    indexed: list[str] = field(default_factory=list)  # packs found on disk, now indexed
    missing: list[str] = field(default_factory=list)  # packs the index named, gone from disk
    forgotten: int = 0  # blobs that lived in the missing packs
    unreadable: list[str] = field(default_factory=list)  # packs on disk that cannot be indexed

    def notices(self) -> list[str]:
        """One line for each thing a person should know about."""
        out = []
        if self.removed:
            out.append(
                f"removed {len(self.removed)} leftover file(s) of interrupted commands "
                f"({human_size(self.freed)} freed)"
            )
        if self.missing:
            names = ", ".join(self.missing[:3]) + (" ..." if len(self.missing) > 3 else "")
            out.append(
                f"{len(self.missing)} pack(s) of the repository are missing ({names}); "
                f"their {self.forgotten} blob(s) will be stored again from the site where it "
                "still holds them ('safepoint verify' names the checkpoints that lost data)"
            )
        out.extend(f"cannot index pack {name}" for name in self.unreadable)
        return out


def keep_up(
    path: Path, packs_dir: Path, index: Index, cache_path: Path, state_dir: Path | None = None
) -> Upkeep:
    """Run the upkeep (see the module docstring); the caller holds the write lock."""
    result = Upkeep()
    on_disk: dict[str, Path] = {}
    for sub in _listdir(packs_dir):
        for name in _listdir(packs_dir / sub):
            file = packs_dir / sub / name
            if name.endswith(".pack"):
                on_disk[name.removesuffix(".pack")] = file
            elif name.endswith(".pack.tmp"):
                _remove(file, result)
    known = index.known_packs()
    for name in sorted(on_disk.keys() - known):
        try:
            index.add(scan_pack(on_disk[name]))
            result.indexed.append(name)
        except (IntegrityError, OSError):
            result.unreadable.append(name)
    result.missing = sorted(known - on_disk.keys())
    if result.missing:
        result.forgotten = index.forget_packs(result.missing)
        cache_path.unlink(missing_ok=True)
    for folder in {path, path / "checkpoints", path / "marks", state_dir or path}:
        remove_dead(folder, ATOMIC_TMP, result)
    return result


def remove_dead(folder: Path, pattern: re.Pattern[str], result: Upkeep) -> None:
    """Remove the files of ``folder`` whose name matches ``pattern`` (group 1: the pid of the
    process writing it) when that process is gone."""
    for name in _listdir(folder):
        match = pattern.match(name)
        if match and not _alive(int(match.group(1))):
            _remove(folder / name, result)


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _remove(path: Path, result: Upkeep) -> None:
    with contextlib.suppress(OSError):
        size = path.lstat().st_size
        path.unlink()
        result.removed.append(path)
        result.freed += size


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists (another user's process)
    return True

