"""Copying checkpoints between repositories (``safepoint copy``, ``[repository] mirror``).

A copy reads the source (records, manifests, every blob a checkpoint needs: store/reach.py) and
writes into the destination, under the destination's lock, only the blobs it lacks. It is one
write transaction: every blob of every checkpoint copied is written and made durable (packs
fsynced, index committed) before the first record is written, so an interruption (kill -9, a
damaged source blob, a full disk) leaves no record that points at missing data, only packs that
the next writer indexes and the next copy reuses. The source is only read: every blob read from
it is hash-checked, so damage stops the copy (IntegrityError, exit 3) before it is written.

Nothing here knows where a repository lives: ``site.open_other`` turns a name into one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from safepoint.errors import IntegrityError, SafepointError, UsageError
from safepoint.ops.refs import resolve
from safepoint.ops.site import Site, open_other
from safepoint.progress import NullProgress, Progress
from safepoint.store.pack import LARGE, pack_order
from safepoint.store.reach import ChunkCache, blobs_of
from safepoint.store.records import Checkpoint
from safepoint.store.repository import Repository
from safepoint.store.writer import BlobWriter


@dataclass(frozen=True)
class Copied:
    checkpoint: Checkpoint  # as the source holds it (same id in the destination)
    copied: bool  # False: the destination had it already


@dataclass
class CopyResult:
    checkpoints: list[Copied] = field(default_factory=list)
    blobs: int = 0  # blobs written to the destination
    bytes: int = 0  # what they took in its packs (compressed)

    @property
    def copied(self) -> list[Checkpoint]:
        return [c.checkpoint for c in self.checkpoints if c.copied]


def copy(
    site: Site,
    refs: Sequence[str],
    *,
    to: str | None = None,
    from_: str | None = None,
    progress: Progress | None = None,
) -> CopyResult:
    """``safepoint copy REF... --to DEST`` (from the site's repository) or ``--from SRC`` (into
    it): exactly one of ``to`` and ``from_``; a relative path is taken from the working
    directory, as a shell user means it."""
    from pathlib import Path

    if (to is None) == (from_ is None):
        raise UsageError("copy needs exactly one of --to DEST and --from SRC")
    if not refs:
        raise UsageError("copy needs at least one checkpoint reference")
    here = site.repository
    other = open_other(
        to or from_ or "",
        base=Path.cwd(),
        root=site.root,
        create=to is not None,
        wait=site.wait,
        progress=site.transfers,
    )
    try:
        other.notify = site.notify
        src, dst = (here, other) if to is not None else (other, here)
        return copy_checkpoints(src, dst, refs, progress=progress)
    finally:
        other.close()


def copy_checkpoints(
    src: Repository,
    dst: Repository,
    refs: Sequence[str] | None,
    *,
    progress: Progress | None = None,
) -> CopyResult:
    """Copy the checkpoints ``refs`` names in ``src`` (None: every listed checkpoint ``dst``
    lacks, as a mirror catches up) into ``dst``; see the module docstring for what an
    interruption leaves. All references are resolved before anything is written."""
    if _same(src, dst):
        raise UsageError(f"{src.path} is the repository itself: copy needs another one")
    listed = src.listed()
    with dst.lock():
        present = {cp.id for cp in dst.listed()}
        if refs is None:
            chosen = [cp for cp in listed if cp.id not in present]
        else:
            chosen = _unique([resolve(ref, listed) for ref in refs])
        chosen.reverse()  # oldest first: a mirror's history fills in the order it was made
        result = CopyResult([Copied(cp, cp.id not in present) for cp in chosen])
        wanted = [c.checkpoint for c in result.checkpoints if c.copied]
        if wanted:
            with dst.writer() as writer:
                result.blobs = _copy_blobs(src, writer, wanted, progress or NullProgress())
                writer.commit()  # every blob durable before the first record names one
                result.bytes = writer.stored_bytes
            for cp in wanted:
                if dst.save_checkpoint(cp).id != cp.id:
                    raise IntegrityError(
                        f"checkpoint record {cp.short_id} did not keep its id when copied"
                    )
        # Marks earned since an earlier copy follow too (a mirror: those of every checkpoint,
        # so that it knows what was proven good if this host is lost).
        for cp in listed if refs is None else chosen:
            if cp.marks.hosts or cp.marks.pinned:
                dst.merge_marks(cp.id, cp.marks)
    return result


def _copy_blobs(
    src: Repository, writer: BlobWriter, checkpoints: list[Checkpoint], progress: Progress
) -> int:
    """Write every blob ``checkpoints`` need that the destination lacks; how many were written.
    Blobs are read in pack order (sequential reads of the source)."""
    needed: set[bytes] = set()
    chunks: ChunkCache = {}
    for cp in checkpoints:
        try:
            needed |= blobs_of(src, cp, chunks=chunks)
        except IntegrityError as exc:
            raise IntegrityError(f"cannot copy checkpoint {cp.display_name}: {exc}") from None
    missing = [b for b in needed if not writer.known(b)]
    found = src.index.lookup_many(missing)
    lost = [b for b in missing if b not in found]
    if lost:
        raise IntegrityError(
            f"blob {lost[0].hex()} is missing from the source repository {src.path}"
            + (f" (and {len(lost) - 1} more)" if len(lost) > 1 else "")
        )
    locations = sorted(found.values(), key=pack_order)
    src.prefetch(locations)  # from a remote: its packs up front, a few at once
    progress.start("copying", sum(loc.raw_size for loc in locations))
    written = 0
    for loc in locations:
        try:
            if loc.raw_size > LARGE:
                stored = writer.add_file(loc.blob_id, loc.raw_size, src.stream_at(loc))
            else:
                stored = writer.add(loc.blob_id, src.read_at(loc))
        except IntegrityError as exc:
            raise IntegrityError(f"source repository {src.path}: {exc}") from None
        written += stored
        progress.advance(loc.raw_size)
    progress.finish()
    return written


def _unique(checkpoints: list[Checkpoint]) -> list[Checkpoint]:
    """In order, each once (two references may name the same checkpoint)."""
    return list({cp.id: cp for cp in checkpoints}.values())


def _same(a: Repository, b: Repository) -> bool:
    try:
        return a.path.samefile(b.path)
    except OSError:
        return False


@dataclass(frozen=True)
class MirrorResult:
    result: CopyResult | None = None
    error: str | None = None  # why the mirror could not be brought up to date


def mirror(site: Site, *, notify: Callable[[str], None] | None = None) -> MirrorResult | None:
    """After a create: copy to ``[repository] mirror`` every checkpoint it lacks (so one missed
    because the mirror was down goes with the next). None without a mirror. A failure is
    returned, not raised: the checkpoint is safe in the site's own repository."""
    spec = site.config.mirror
    if spec is None:
        return None
    try:
        other = open_other(
            spec,
            base=site.root,
            root=site.root,
            create=True,
            wait=site.wait,
            progress=site.transfers,
        )
    except SafepointError as exc:
        return MirrorResult(error=str(exc))
    try:
        other.notify = notify or site.notify
        return MirrorResult(copy_checkpoints(site.repository, other, None))
    except SafepointError as exc:
        return MirrorResult(error=str(exc))
    except OSError as exc:
        return MirrorResult(error=f"{exc.filename or other.path}: {exc.strerror or exc}")
    finally:
        other.close()
