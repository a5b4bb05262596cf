"""``export``: one checkpoint of a site as a standard tar archive, with its ``.sha256`` and a
restore script (the archive format itself: ``archive/``).

All three outputs are written under temporary names and renamed into place at the end, the
archive last (``archive/outputs.py``): a failed export removes them, and one that was killed
leaves at most ``.NAME.partial-PID`` files, which the next export to that folder removes. Export
only reads the repository, so it takes no lock.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from safepoint.archive.checksum import checksum_line
from safepoint.archive.dbmember import DatabaseMember
from safepoint.archive.export import (
    check_entries,
    repository_inside,
    script_path,
    write_archive,
    write_new,
)
from safepoint.archive.outputs import destination, refuse_inside_root, staged
from safepoint.archive.script import ScriptInfo, render_restore_script
from safepoint.archive.select import Tracker
from safepoint.dbsnap.chunks import snapshot_pieces
from safepoint.errors import OperationalError, UsageError
from safepoint.model.entry import DIR, FILE, Entry
from safepoint.ops.site import Site
from safepoint.progress import NullProgress, Progress
from safepoint.scan.runtime import file_is_database
from safepoint.scan.walk import scan_tree
from safepoint.store.records import Checkpoint
from safepoint.store.repository import Repository
from safepoint.store.snapshots import snapshot_info
from safepoint.store.upkeep import Upkeep, remove_dead
from safepoint.version import __version__


@dataclass(frozen=True)
class ExportResult:
    checkpoint: Checkpoint
    archive: Path
    checksum_file: Path
    restore_script: Path
    sha256: str
    size: int  # bytes of the archive
    format: str
    entries: int
    removals: int  # paths the restore script may remove
    warnings: list[str] = field(default_factory=list)


def export_checkpoint(
    site: Site,
    cp: Checkpoint,
    *,
    output: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Write ``cp`` as an archive, its ``.sha256`` and restore script (where: see
    ``archive.outputs.destination``)."""
    progress = progress or NullProgress()
    repo = site.repository
    where = destination(site.root, cp, output, fmt)
    dest, fmt = where.archive, where.fmt
    script = script_path(dest, cp)
    sums = where.checksum
    refuse_inside_root(site.root, site.rules, [dest, sums, script])
    entries = repo.load_manifest(cp)
    warnings = check_entries(cp, entries)

    if where.make_folder:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OperationalError(f"cannot create {dest.parent}: {exc.strerror}") from None
    elif not dest.parent.is_dir():
        raise UsageError(f"cannot write {dest}: folder {dest.parent} does not exist")
    swept = Upkeep()  # what killed exports of this site left beside the output
    remove_dead(dest.parent, _partials_of(site, [dest.name, sums.name, script.name]), swept)
    warnings += swept.notices()
    with staged([script, sums, dest]) as (script_tmp, sums_tmp, tmp):
        database = database_member(repo, cp)
        sha256, size = write_archive(
            repo,
            cp,
            entries,
            tmp,
            fmt,
            root=site.root,
            version=__version__,
            progress=progress,
            database=database,
        )
        removals = removal_list(site, entries)
        write_new(sums_tmp, checksum_line(sha256, dest.name), mode=0o644)
        info = ScriptInfo(
            script_name=script.name,
            archive_name=dest.name,
            sha256=sha256,
            fmt=fmt,
            site_root=os.fspath(site.root),
            repository=repository_inside(site.root, site.config.repository),
            checkpoint=cp,
            health=site.config.health,
            hooks=site.config.after_restore,
            removals=removals,
            version=__version__,
            database=database,
        )
        write_new(script_tmp, render_restore_script(info), mode=0o755)
        os.chmod(script_tmp, 0o755)  # whatever the umask: the operator runs it
    return ExportResult(
        cp, dest, sums, script, sha256, size, fmt, len(entries), len(removals), warnings
    )


def database_member(repo: Repository, cp: Checkpoint) -> DatabaseMember | None:
    """The archive member for ``cp``'s database snapshot, when it has one."""
    info = snapshot_info(cp.extra)
    if info is None:
        return None
    return DatabaseMember(
        engine=str(info["engine"]),
        name=str(info["name"]),
        size=int(info["bytes"]),
        pieces=lambda: snapshot_pieces(repo, info),
    )


def removal_list(site: Site, entries: list[Entry]) -> list[tuple[str, str]]:
    """The paths a restore script may remove: those the site tracks now, on disk or in its
    newest checkpoint, that ``entries`` do not hold; (kind, path), deepest first. Only paths
    the site's current rules track, so never an excluded one."""
    tracked: dict[str, str] = {}
    root = site.root
    if root.is_dir():
        for e in scan_tree(root, site.rules).entries:
            # The scan does not read content: a database found by its header (data/site.db,
            # bakerydemodb) is excluded from checkpoints, so never the script's to remove.
            if e.kind == FILE and file_is_database(root / e.path):
                continue
            tracked[e.path] = e.kind
    checkpoints = site.repository.checkpoints()
    if checkpoints:
        tracker = Tracker(
            site.rules,
            is_venv=lambda d: os.path.lexists(os.path.join(root, d, "pyvenv.cfg")),
        )
        for e in site.repository.load_manifest(checkpoints[0]):
            if e.path not in tracked and tracker.tracks(e.path, is_dir=e.kind == DIR):
                tracked[e.path] = e.kind
    keep = {e.path for e in entries}
    out = [(kind, path) for path, kind in tracked.items() if path not in keep]
    out.sort(key=lambda kp: kp[1], reverse=True)
    return out


def _partials_of(site: Site, names: list[str]) -> re.Pattern[str]:
    """The temporary names (``.NAME.partial-PID``, group 1 the pid) of this export's files and
    of any archive of this site (named ``<site>_...``): what a killed export of it left. Other
    files in the folder, whoever wrote them, are not ours to remove."""
    ours = "|".join([re.escape(f"{site.root.name}_") + ".+", *map(re.escape, names)])
    return re.compile(rf"^\.(?:{ours})\.partial-(\d+)$")
