"""The tree under test: the work copy of the site, the file set every tool backs up, the edits.

Every tool sees the same files: everything under the root except data and logs. safepoint gets
this by its defaults with the virtual environment re-included (``SAFEPOINT_REINCLUDES`` in
``safepoint.toml``); the peers get ``COMMON_EXCLUDES`` translated into their own syntax. The
counts from :func:`count_tree` are what each tool's own report is checked against.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

# safepoint's default excludes minus the virtual environment and bytecode rules, plus the files
# safepoint always leaves out (anchored at the root with a leading "/").
COMMON_EXCLUDES: tuple[str, ...] = (
    ".git/", ".venv/", "node_modules/",
    "*.sqlite3", "*.sqlite3-*", "*.sqlite", "*-journal", "*-wal", "*-shm",
    "media/", "logs/", "*.log",
    "/safepoint.toml", "/.safepointignore", "/.safepoint-state/",
)
SAFEPOINT_REINCLUDES: tuple[str, ...] = ("!venv/", "!__pycache__/", "!*.pyc")
SOURCE_SUFFIXES = (".py", ".html")


@dataclass(frozen=True)
class TreeStats:
    files: int
    dirs: int
    symlinks: int
    bytes: int

    @property
    def entries(self) -> int:
        return self.files + self.dirs + self.symlinks


def exclude_spec(patterns: tuple[str, ...] = COMMON_EXCLUDES) -> pathspec.PathSpec:
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def iter_tree(root: Path, spec: pathspec.PathSpec | None = None
              ) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Yield ``(relative path, entry)`` for every entry the tools back up; links not followed."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(root / rel_dir if rel_dir else root) as it:
            for entry in it:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if spec is not None and spec.match_file(rel + "/" if is_dir else rel):
                    continue
                yield rel, entry
                if is_dir:
                    stack.append(rel)


def count_tree(root: Path, spec: pathspec.PathSpec | None = None) -> TreeStats:
    files = dirs = links = size = 0
    for _, entry in iter_tree(root, spec):
        if entry.is_symlink():
            links += 1
        elif entry.is_dir(follow_symlinks=False):
            dirs += 1
        elif entry.is_file(follow_symlinks=False):
            files += 1
            size += entry.stat(follow_symlinks=False).st_size
    return TreeStats(files, dirs, links, size)


def copy_tree(src: Path, dst: Path) -> None:
    """A fresh copy with modes, times and links kept (``cp -a``); ``dst`` is replaced."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)


def reset_tree(src: Path, dst: Path) -> None:
    """Bring ``dst`` back to exactly ``src`` (cheap when little changed)."""
    if shutil.which("rsync"):
        subprocess.run(["rsync", "-a", "--delete", f"{src}/", f"{dst}/"], check=True)
    else:
        copy_tree(src, dst)


def source_files(root: Path, spec: pathspec.PathSpec) -> list[str]:
    """The application's own .py/.html files (not the virtual environment's), sorted."""
    found = []
    for rel, entry in iter_tree(root, spec):
        top = rel.split("/", 1)[0]
        if top in ("venv", ".venv") or "__pycache__" in rel.split("/"):
            continue
        if rel.endswith(SOURCE_SUFFIXES) and entry.is_file(follow_symlinks=False):
            found.append(rel)
    return sorted(found)


@dataclass
class EditSet:
    """Ten (or ``count``) source files with one line appended: a small, typical code change."""

    root: Path
    paths: list[str]
    round: int
    originals: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def choose(cls, root: Path, candidates: list[str], *, round: int, count: int = 10) -> EditSet:
        if not candidates:
            raise RuntimeError(f"{root}: no .py or .html files outside the venv to edit")
        # Spread over the whole list (models, views, templates of every app); each round
        # shifts by one, so the rounds of the repository-size series edit different files.
        n = min(count, len(candidates))
        picks = [candidates[(i * len(candidates) // n + round) % len(candidates)] for i in range(n)]
        return cls(root, list(dict.fromkeys(picks)), round)

    def apply(self) -> None:
        """Put every file in its edited state (its original content plus one line)."""
        for rel in self.paths:
            path = self.root / rel
            if rel not in self.originals:
                self.originals[rel] = path.read_bytes()
            line = (f"# safepoint bench edit {self.round}\n" if rel.endswith(".py")
                    else f"<!-- safepoint bench edit {self.round} -->\n")
            path.write_bytes(self.originals[rel] + line.encode())

    def unrolled(self) -> list[str]:
        """Paths that do not hold their content from before the edit (empty after a rollback)."""
        bad = []
        for rel, data in self.originals.items():
            try:
                if (self.root / rel).read_bytes() != data:
                    bad.append(rel)
            except OSError:
                bad.append(rel)
        return bad


def make_synthetic(root: Path, count: int) -> None:
    """``count`` small files (0.3-2 KB; .py, .html, .css, .txt), 100 per directory, two levels."""
    if root.exists():
        shutil.rmtree(root)
    suffixes = (".py", ".html", ".css", ".txt")
    filler = "".join(f"line {i} of some ordinary source text\n" for i in range(60))
    for i in range(count):
        d = root / f"pkg{i // 10000:03d}" / f"mod{i // 100 % 100:02d}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        body = f"# synthetic file {i}\n" + filler[: 300 + (i * 37) % 1700]
        (d / f"file{i:07d}{suffixes[i % 4]}").write_text(body)
