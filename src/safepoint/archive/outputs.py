"""Where ``export`` writes its three files (the archive, its ``.sha256``, the restore script),
and how: each to a temporary name beside its final one, renamed only once all three are
complete, so a failed or interrupted export never leaves a partial archive or a companion
without its archive under a final name.

Where: ``-o FILE``; ``-o DIR/`` (an existing folder, or a path ending in '/', created) for
the default names in that folder; with no ``-o``, the working directory when it is outside
the site root, else the folder that holds the root. Never where the next checkpoint would
capture the archive: a destination inside the root that the site's rules track is refused
(the repository, or a folder excluded in ``safepoint.toml``, is fine).

Temporary names are ``.NAME.partial-PID``; those of an export that was killed (its process
is gone) are removed by the next export to the same folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from safepoint.archive.layout import FORMATS, GZIP, archive_name, checksum_name, format_of
from safepoint.archive.paths import display
from safepoint.archive.select import Tracker
from safepoint.errors import OperationalError, UsageError
from safepoint.scan.rules import Rules
from safepoint.store.atomic import fsync_dir
from safepoint.store.records import Checkpoint


@dataclass(frozen=True)
class Destination:
    archive: Path
    fmt: str
    make_folder: bool  # ``-o DIR/`` named a folder that does not exist yet

    @property
    def checksum(self) -> Path:
        return self.archive.with_name(checksum_name(self.archive.name))


def destination(
    root: Path, cp: Checkpoint, output: str | os.PathLike[str] | None, fmt: str | None
) -> Destination:
    """Where the archive goes and in which format: ``fmt``, else the output's suffix, else
    tar.gz (see the module docstring for the folder)."""
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown archive format {fmt!r} (use {' or '.join(FORMATS)})")
    text = os.fspath(output) if output is not None else None
    if text is not None and not text.endswith("/") and not os.path.isdir(text):
        path = Path(text).absolute()
        return Destination(path, fmt or format_of(path.name) or GZIP, False)
    fmt = fmt or GZIP
    folder = Path(text).absolute() if text is not None else default_folder(root)
    name = archive_name(root.name, cp, fmt)
    return Destination(folder / name, fmt, not folder.is_dir())


def default_folder(root: Path) -> Path:
    """The working directory if it is outside the site root, else the root's parent."""
    cwd = Path.cwd()
    return root.absolute().parent if _relative(cwd, root) is not None else cwd


def refuse_inside_root(root: Path, rules: Rules, paths: list[Path]) -> None:
    """UsageError when one of ``paths`` lies where the site's rules track it: the next
    checkpoint would hold the archive (and a rollback remove it)."""
    tracker = Tracker(
        rules, is_venv=lambda d: os.path.lexists(os.path.join(root, d, "pyvenv.cfg"))
    )
    for path in paths:
        rel = _relative(path.parent, root)
        if rel is None:
            continue
        rel = f"{rel}/{path.name}" if rel else path.name
        if tracker.tracks(rel, is_dir=False):
            raise UsageError(
                f"{display(os.fspath(path))} is inside the site root, where the next "
                "checkpoint would take it in; export outside the site (-o DIR/) or exclude "
                "that folder in safepoint.toml"
            )


def _relative(path: Path, root: Path) -> str | None:
    """``path`` relative to ``root`` ('' for the root itself), both resolved through
    symlinks; None when it is outside."""
    rel = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    if rel == ".." or rel.startswith("../"):
        return None
    return "" if rel == "." else rel


def partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


@contextmanager
def staged(finals: list[Path]) -> Iterator[list[Path]]:
    """Temporary paths for ``finals``; when the block ends without error they are renamed
    into place in order (the archive last), and on any error every temporary is removed (and
    a final name this export had already filled for the first time)."""
    temps = [partial(p) for p in finals]
    placed: list[Path] = []
    try:
        for tmp in temps:  # a dead process with our pid left them: they are ours to reuse
            tmp.unlink(missing_ok=True)
        yield temps
        for tmp, final in zip(temps, finals, strict=True):
            existed = os.path.lexists(final)
            os.replace(tmp, final)
            if not existed:
                placed.append(final)
        fsync_dir(finals[-1].parent)
    except BaseException as exc:
        for path in temps + placed:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OperationalError(
                f"cannot write {finals[-1]}: {exc.strerror or exc}"
                + (f" ({exc.filename})" if exc.filename else "")
            ) from None
        raise
