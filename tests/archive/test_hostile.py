"""Hostile and damaged archives: each is refused with one line naming the entry (exit 2 for
unsafe or unsupported entries, 3 for damaged data or a wrong checksum), and the repository is
left exactly as it was."""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from safepoint import open_site
from safepoint.errors import IntegrityError
from safepoint.ops.import_ import import_archive
from tests.archive.conftest import Member, make_tar, member, repo_state
from tests.helpers import assert_one_line_error, snapshot, sp

OK = member("app/ok.txt", b"harmless\n")
TOP = member("README", b"a second top-level name, so that no top folder is stripped\n")


def special(name: str, kind: bytes) -> Member:
    info, _ = member(name, None, type=kind)
    info.devmajor, info.devminor = 1, 3
    return info, None


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Member:
    return member(name, None, type=kind, linkname=target)


def nul_name() -> Member:
    info, data = member("app/a", b"x")
    info.pax_headers["path"] = "app/a\x00b"  # a ustar name field would end at the NUL
    return info, data


# case: (members, the entry the message must name, what it must say)
HOSTILE: dict[str, tuple[list[Member], str, str]] = {
    "absolute path": (
        [OK, member("/etc/cron.d/evil", b"* * * * * root sh\n")],
        "/etc/cron.d/evil",
        "absolute path",
    ),
    "dot-dot": ([OK, member("../outside.txt", b"x")], "../outside.txt", "'..'"),
    "dot-dot inside": (
        [OK, member("app/../../outside.txt", b"x")],
        "app/../../outside.txt",
        "'..'",
    ),
    "absolute symlink": ([OK, link("etc", "/etc")], "etc", "absolute path"),
    "escaping symlink": ([OK, link("app/up", "../../..")], "app/up", "outside the root"),
    "dot-dot after a name": ([OK, link("app/x", "ok.txt/../..")], "app/x", "'..' after a name"),
    "hard link outside": (
        [OK, link("app/pw", "/etc/passwd", tarfile.LNKTYPE)],
        "app/pw",
        "hard link outside",
    ),
    "hard link upwards": (
        [OK, link("app/pw", "../../etc/passwd", tarfile.LNKTYPE)],
        "app/pw",
        "hard link outside",
    ),
    "hard link to a later entry": (
        [link("app/a", "app/ok.txt", tarfile.LNKTYPE), OK],
        "app/a",
        "not an earlier file",
    ),
    "hard link to a folder": (
        [OK, link("app/d", "app", tarfile.LNKTYPE)],
        "app/d",
        "not an earlier file",
    ),
    "write through a planted symlink": (
        [OK, link("app/static", "."), member("app/static/evil.txt", b"x")],
        "app/static/evil.txt",
        "through the symlink 'app/static'",
    ),
    "path under a file": ([OK, member("app/ok.txt/inner", b"x")], "app/ok.txt/inner", "under"),
    "character device": ([OK, special("app/null", tarfile.CHRTYPE)], "app/null", "device"),
    "block device": ([OK, special("app/sda", tarfile.BLKTYPE)], "app/sda", "device"),
    "fifo": ([OK, special("app/pipe", tarfile.FIFOTYPE)], "app/pipe", "fifo"),
    "duplicate entry": (
        [OK, member("app/x", b"a"), member("./app/x", b"b")],
        "./app/x",
        "duplicate",
    ),
    "NUL in a name": ([OK, nul_name()], "app/a\\x00b", "NUL"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_entry_is_refused(bare_site: Path, tmp_path: Path, case: str) -> None:
    members, name, reason = HOSTILE[case]
    archive = make_tar(tmp_path / "evil.tar.gz", [TOP, *members])
    before = repo_state(bare_site), snapshot(bare_site, skip=(".safepoint",))
    proc = sp("import", archive, cwd=bare_site)
    assert_one_line_error(proc, 2)
    assert f"'{name}'" in proc.stderr and reason in proc.stderr, proc.stderr
    assert (repo_state(bare_site), snapshot(bare_site, skip=(".safepoint",))) == before
    assert not Path("/etc/cron.d/evil").exists() and not (tmp_path / "outside.txt").exists()


def good_archive(path: Path, *, seed: int = 0, fill: int = 0) -> Path:
    """Eight files of 100 KiB; ``seed`` changes every file's content, ``fill`` only that of the
    last three (never their sizes)."""
    members = [
        member(f"app/file{i}.bin", bytes([i, seed, fill if i >= 5 else 0]) * 34_000)
        for i in range(8)
    ]
    if path.name.endswith(".zst"):
        plain = make_tar(path.with_suffix(".plain"), members, mode="w")
        path.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(plain.read_bytes()))
        plain.unlink()
        return path
    return make_tar(path, members)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))


def drop_tail(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-6])  # most of the gzip trailer, or the zstd checksum


DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "truncated gzip": ("good.tar.gz", truncate),
    "corrupt gzip": ("good.tar.gz", flip),
    "gzip without its trailer": ("good.tar.gz", drop_tail),
    "truncated zstd": ("good.tar.zst", truncate),
    "corrupt zstd": ("good.tar.zst", flip),
    "zstd without its end": ("good.tar.zst", drop_tail),
}


@pytest.mark.parametrize("case", DAMAGE, ids=list(DAMAGE))
def test_damaged_data_is_refused(bare_site: Path, tmp_path: Path, case: str) -> None:
    name, damage = DAMAGE[case]
    archive = good_archive(tmp_path / name)
    damage(archive)
    before = repo_state(bare_site)
    proc = sp("import", archive, cwd=bare_site)
    assert_one_line_error(proc, 3)
    assert name in proc.stderr and ("damaged" in proc.stderr or "truncated" in proc.stderr)
    assert repo_state(bare_site) == before


def test_damaged_tar_header_inside_intact_compression(bare_site: Path, tmp_path: Path) -> None:
    plain = make_tar(tmp_path / "p.tar", [OK, member("app/b", b"b"), member("c", b"c")], mode="w")
    data = bytearray(plain.read_bytes())
    data[data.index(b"app/b\x00") + 1] ^= 0xFF  # the name in the second member's header
    archive = tmp_path / "header.tar.gz"
    archive.write_bytes(gzip.compress(bytes(data)))
    before = repo_state(bare_site)
    proc = sp("import", archive, cwd=bare_site)
    assert_one_line_error(proc, 3)
    assert "header" in proc.stderr
    assert repo_state(bare_site) == before


def test_wrong_checksum_is_refused(bare_site: Path, tmp_path: Path) -> None:
    archive = good_archive(tmp_path / "good.tar.gz")
    (tmp_path / "good.tar.gz.sha256").write_text("0" * 64 + "  good.tar.gz\n")
    before = repo_state(bare_site)
    proc = sp("import", archive, cwd=bare_site)
    assert_one_line_error(proc, 3)
    assert "checksum mismatch" in proc.stderr
    assert repo_state(bare_site) == before


def test_not_a_tar_archive(bare_site: Path, tmp_path: Path) -> None:
    for name, data in (
        ("notes.tar.gz", gzip.compress(b"just text\n" * 100)),
        ("empty.tar", b""),
        ("random.bin", bytes(range(1, 256)) * 8),
    ):
        archive = tmp_path / name
        archive.write_bytes(data)
        proc = sp("import", archive, cwd=bare_site)
        assert_one_line_error(proc, 2)
        assert "not a tar archive" in proc.stderr


def test_import_refuses_while_a_rollback_is_pending(bare_site: Path, tmp_path: Path) -> None:
    archive = good_archive(tmp_path / "good.tar.gz")
    journal = bare_site / ".safepoint" / "journal.json"
    journal.write_text("{}")
    proc = sp("import", archive, cwd=bare_site)
    assert_one_line_error(proc, 1)
    assert "recover" in proc.stderr
    journal.unlink()
    assert sp("import", archive, "--label", "good-archive", cwd=bare_site).returncode == 0


class _SwapBeforeStoring:
    """A progress observer that replaces the archive once checking is done and storing begins:
    the archive then changes between the two passes, as a concurrent copy could make it."""

    def __init__(self, archive: Path, replacement: Path) -> None:
        self.archive, self.replacement = archive, replacement

    def start(self, description: str, total: int) -> None:
        if description == "import":
            self.replacement.replace(self.archive)

    def advance(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass


def test_an_archive_changing_during_import_leaves_no_pack_data(
    bare_site: Path, tmp_path: Path
) -> None:
    # content the repository does not hold yet, whatever other tests imported
    archive = good_archive(tmp_path / "good.tar.gz", seed=1)
    changed = good_archive(tmp_path / "changed.tar.gz", seed=1, fill=7)  # same names, sizes
    before = repo_state(bare_site)
    with open_site(bare_site) as s, pytest.raises(IntegrityError, match="changed while"):
        import_archive(s, archive, label="swapped", progress=_SwapBeforeStoring(archive, changed))
    assert repo_state(bare_site) == before  # five blobs were written to a pack, then aborted
