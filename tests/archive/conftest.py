"""Fixtures for the archive tests: an exported checkpoint, hand-built tar archives, and the
repository's state to compare before and after a refused import."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import make_site, sp, sp_json, write


@dataclass(frozen=True)
class Exported:
    site: Path
    archive: Path
    script: Path
    checksum: Path
    doc: dict[str, Any]


def export(site: Path, ref: str, out: Path, *args: str) -> Exported:
    out.mkdir(parents=True, exist_ok=True)
    doc = sp_json("export", ref, "-o", f"{out}/", *args, cwd=site)
    return Exported(
        site, Path(doc["archive"]), Path(doc["restore_script"]), Path(doc["checksum_file"]), doc
    )


@pytest.fixture(scope="module")
def bare_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small initialised site, shared by a module's tests: for imports that must be refused
    (each test checks the repository is unchanged by its own import)."""
    root = tmp_path_factory.mktemp("bare") / "site"
    write(root / "app" / "views.py", "def view(): ...\n")
    sp("init", cwd=root, check=True)
    return root


def give_owners(site: Path) -> None:
    """Owners other than root's, when running as root: the archive must keep them."""
    if os.geteuid() == 0:
        os.chown(site / "eventsite" / "urls.py", 1234, 5678)
        os.lchown(site / "settings_link", 4321, 8765)


def export_v1(site: Path, out: Path) -> Exported:
    give_owners(site)
    sp("create", "--label", "v1", "--note", "before the upgrade\n", cwd=site, check=True)
    return export(site, "v1", out)


@pytest.fixture
def exported(site: Path, tmp_path: Path) -> Exported:
    """The test site's checkpoint "v1" (with a note), exported to tmp_path/out."""
    return export_v1(site, tmp_path / "out")


@pytest.fixture(scope="module")
def shared_export(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """Like ``exported``, shared by a module's tests: they must not change the site's tree
    or the archive."""
    root = make_site(tmp_path_factory.mktemp("shared") / "site")
    sp("init", cwd=root, check=True)
    return export_v1(root, root.parent / "out")


Member = tuple[tarfile.TarInfo, bytes | None]


def member(
    name: str, data: bytes | None = b"", *, type: bytes = tarfile.REGTYPE, linkname: str = ""
) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = type, linkname, 1_700_000_000
    info.mode = 0o755 if type == tarfile.DIRTYPE else 0o644
    if data is not None and type == tarfile.REGTYPE:
        info.size = len(data)
    return info, data


def make_tar(path: Path, members: Iterable[Member], *, mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data and info.isreg() else None)
    return path


def repo_state(site: Path) -> tuple[list[str], list[str]]:
    """Checkpoint records and pack files (temporary ones included) of the site's repository."""
    repo = site / ".safepoint"
    records = sorted(p.name for p in (repo / "checkpoints").iterdir())
    packs = sorted(str(p.relative_to(repo)) for p in (repo / "packs").rglob("*") if p.is_file())
    return records, packs
