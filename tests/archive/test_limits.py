"""Import limits and values a restore could not write back: a compression bomb is refused
quickly in bounded memory, a large member is stored without being held whole, and member
headers (PAX times, owners, names, depth, tar's own headers) and checkpoint records (dates,
labels, host) that would break a later listing, export or restore are refused at import,
with the entry named, exit 2, the repository unchanged."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.archive.conftest import Exported, Member, make_tar, member, repo_state
from tests.helpers import SAFEPOINT, assert_one_line_error, sp, sp_json

TOP = member("README", b"two top-level names: no folder is stripped\n")
MIB = 1024 * 1024

# Runs a command in a fresh process and prints its peak RSS in KiB: the test process's own
# RUSAGE_CHILDREN would count every child the test session ever waited for.
PEAK_RSS = """
import resource, subprocess, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # the old code would eat gigabytes
proc = subprocess.run(sys.argv[2:], cwd=sys.argv[1], capture_output=True, text=True)
sys.stdout.write(f"{proc.returncode}\\n{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n")
sys.stdout.write(proc.stderr)
"""


def import_with_peak(site: Path, *args: str | os.PathLike[str]) -> tuple[int, int, str]:
    """(exit status, peak RSS in bytes, stderr) of ``safepoint import ARGS`` run in ``site``."""
    wrapper = [sys.executable, "-c", PEAK_RSS, site, SAFEPOINT, "import", *map(os.fspath, args)]
    out = subprocess.run(wrapper, capture_output=True, text=True, timeout=300)
    code, peak, stderr = out.stdout.split("\n", 2)
    return int(code), int(peak) * 1024, stderr


def gzip_bomb(path: Path, size: int) -> Path:
    """A .tar.gz of one member of ``size`` zero bytes, built from concatenated gzip members
    (a gzip reader reads them as one stream) so that making it takes no time."""
    info = tarfile.TarInfo("app/zeros.bin")
    info.size, info.mtime = size, 1_700_000_000
    piece = gzip.compress(bytes(16 * MIB), compresslevel=9)
    with path.open("wb") as f:
        f.write(gzip.compress(info.tobuf(tarfile.PAX_FORMAT)))
        for _ in range(size // (16 * MIB)):
            f.write(piece)
        f.write(gzip.compress(bytes(1024)))  # the end-of-archive blocks
    return path


def test_a_gzip_bomb_is_refused_quickly_in_bounded_memory(bare_site: Path, tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "bomb.tar.gz", 4 << 30)
    assert bomb.stat().st_size < 5 * MIB
    before = repo_state(bare_site)
    start = time.monotonic()
    code, peak, stderr = import_with_peak(bare_site, bomb)
    assert time.monotonic() - start < 60  # refused after 64 MiB, not after reading 4 GiB
    assert code == 2, stderr
    assert stderr.startswith("safepoint: bomb.tar.gz: refused entry 'app/zeros.bin'")
    assert "expands more than 200 times" in stderr and "--max-ratio" in stderr
    assert len(stderr.splitlines()) == 1
    assert peak < 150 * MIB, peak
    assert repo_state(bare_site) == before


@pytest.mark.slow  # 150 MiB through the import
def test_a_large_member_is_stored_in_pieces(site: Path, tmp_path: Path) -> None:
    content = os.urandom(150 * MIB)  # issue 13: "313 MiB RSS for a 143 MiB file"
    archive = make_tar(tmp_path / "large.tar", [TOP, member("app/big.bin", content)], mode="w")
    code, peak, stderr = import_with_peak(site, archive)
    assert code == 0, stderr
    # Streamed it peaks near 40 MiB; held whole even once it would be over 150 MiB.
    assert peak < 100 * MIB, peak
    target = tmp_path / "restored"
    sp("restore", "large", "--to", target, cwd=site, check=True)
    assert hashlib.sha256((target / "app" / "big.bin").read_bytes()).digest() == (
        hashlib.sha256(content).digest()
    )


def with_pax(name: str, data: bytes = b"x", **pax: str) -> Member:
    info, data = member(name, data)
    info.pax_headers = dict(pax)
    return info, data


def with_fields(name: str, **fields: int) -> Member:
    info, data = member(name, b"x")
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def chained_headers(count: int) -> bytes:
    """An uncompressed tar whose first member follows ``count`` PAX headers in a row."""
    record = b"17 comment=hello\n"
    head = tarfile.TarInfo("././@PaxHeader")
    head.type, head.size = tarfile.XHDTYPE, len(record)
    block = head.tobuf(tarfile.USTAR_FORMAT) + record.ljust(512, b"\0")
    info, data = member("app/a.txt", b"a")
    return block * count + info.tobuf(tarfile.USTAR_FORMAT) + data.ljust(512, b"\0") + bytes(1024)


# case: (members, the entry the message names, what it says)
UNWRITABLE: dict[str, tuple[list[Member], str, str]] = {
    "PAX mtime NaN": ([with_pax("app/nan.txt", mtime="nan")], "app/nan.txt", "not a finite"),
    "PAX mtime Infinity": ([with_pax("app/inf.txt", mtime="Infinity")], "app/inf.txt", "finite"),
    "PAX mtime -inf": ([with_pax("app/ninf.txt", mtime="-inf")], "app/ninf.txt", "finite"),
    "PAX mtime 1e300": ([with_pax("app/far.txt", mtime="1e300")], "app/far.txt", "range"),
    "huge mtime": ([with_fields("app/t.txt", mtime=2**62)], "app/t.txt", "out of range"),
    "huge uid": ([with_fields("app/u.txt", uid=2**40)], "app/u.txt", "uid 1099511627776"),
    "huge gid": ([with_fields("app/g.txt", gid=2**33)], "app/g.txt", "gid 8589934592"),
    "2000 components": (
        [member("a/" * 1999 + "f", b"deep")],
        "a/a/a/a/",
        "2000 components (at most 256)",
    ),
    "name over 255 bytes": ([member("app/" + "n" * 300, b"x")], "nnnn", "name of 300 bytes"),
    "path over 4095 bytes": (
        [member(("d" * 200 + "/") * 25 + "f", b"x")],
        "dddd",
        "path of 5026 bytes",
    ),
    "link target over 4095 bytes": (
        [member("app/l", None, type=tarfile.SYMTYPE, linkname="x/" * 2500)],
        "app/l",
        "link target of 5000 bytes",
    ),
}


@pytest.mark.parametrize("case", UNWRITABLE, ids=list(UNWRITABLE))
def test_member_a_restore_could_not_write_is_refused(
    bare_site: Path, tmp_path: Path, case: str
) -> None:
    members, name, reason = UNWRITABLE[case]
    archive = make_tar(tmp_path / "odd.tar.gz", [TOP, *members])
    before = repo_state(bare_site)
    proc = sp("import", archive, cwd=bare_site)
    assert_one_line_error(proc, 2)
    assert "refused entry '" in proc.stderr and name in proc.stderr, proc.stderr
    assert reason in proc.stderr, proc.stderr
    assert repo_state(bare_site) == before


def test_tar_headers_too_large_or_too_many_are_refused(bare_site: Path, tmp_path: Path) -> None:
    before = repo_state(bare_site)
    big = make_tar(
        tmp_path / "bighead.tar.gz", [TOP, with_pax("app/a.txt", comment="x" * (2 * MIB))]
    )
    proc = sp("import", big, cwd=bare_site)
    assert_one_line_error(proc, 2)
    assert "after 'README'" in proc.stderr and "extended tar header of" in proc.stderr
    chain = tmp_path / "chain.tar"
    chain.write_bytes(chained_headers(2000))  # tarfile reads them recursively
    proc = sp("import", chain, cwd=bare_site)
    assert_one_line_error(proc, 2)
    assert "more than 8 extended tar headers in a row" in proc.stderr
    assert repo_state(bare_site) == before


@pytest.mark.slow
def test_limits_can_be_set(bare_site: Path, tmp_path: Path) -> None:
    before = repo_state(bare_site)
    archive = make_tar(tmp_path / "two.tar.gz", [TOP, member("app/big.bin", bytes(2 * MIB))])
    proc = sp("import", archive, "--max-size", "1M", cwd=bare_site)
    assert_one_line_error(proc, 2)
    assert "'app/big.bin': 2097152 bytes (at most 1048576; --max-size" in proc.stderr
    many = make_tar(tmp_path / "many.tar.gz", [member(f"f{i}", b"") for i in range(20)])
    proc = sp("import", many, "--max-entries", "10", cwd=bare_site)
    assert_one_line_error(proc, 2)
    assert "more than 10 entries" in proc.stderr
    assert_one_line_error(sp("import", archive, "--max-size", "lots", cwd=bare_site), 2)
    assert repo_state(bare_site) == before
    # a bomb the operator vouches for
    bomb = gzip_bomb(tmp_path / "zeros.tar.gz", 96 * MIB)
    assert_one_line_error(sp("import", bomb, "--label", "z", cwd=bare_site), 2)
    doc = sp_json("import", bomb, "--label", "zeros", "--max-ratio", "0", cwd=bare_site)
    assert doc["bytes"] == 96 * MIB


def forge(exported: Exported, path: Path, change: Callable[[dict], None]) -> Path:
    """The exported archive with its checkpoint record changed (and archive.json's id made to
    match, as a forger would), as .tar.gz."""
    members = []
    with tarfile.open(exported.archive) as src:
        for ti in src:
            f = src.extractfile(ti) if ti.isreg() else None
            members.append((ti, f.read() if f is not None else None))
    record = next(d for ti, d in members if ti.name.endswith("/record.json"))
    doc = json.loads(record or b"")
    change(doc)
    body = json.dumps(doc, sort_keys=True, indent=1).encode() + b"\n"
    out = []
    for ti, data in members:
        if ti.name.endswith("/record.json"):
            data = body
        elif ti.name.endswith("/archive.json"):
            info = json.loads(data or b"")
            info["checkpoint"] = hashlib.sha256(body).hexdigest()
            data = json.dumps(info).encode()
        if data is not None:
            ti.size = len(data)
        out.append((ti, data))
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for ti, data in out:
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    return path


def setter(**fields: object) -> Callable[[dict], None]:
    return lambda doc: doc.update(fields)


BAD_RECORDS: dict[str, tuple[Callable[[dict], None], str]] = {
    "created with a newline": (
        setter(created="2024-01-01\n00:00:00+00:00"),
        "created '2024-01-01\\x0a00:00:00+00:00' is not a time in the form",
    ),
    "created in the future": (setter(created="2999-01-01T00:00:00+00:00"), "in the future"),
    "created at year 9999": (setter(created="9999-12-31T23:59:59.999999-23:59"), "created"),
    "created at year 1": (setter(created="0001-01-01T00:00:00+14:00"), "created"),
    "created before 1970": (setter(created="1969-12-31T23:59:59+00:00"), "before 1970"),
    "created without a zone": (setter(created="2024-01-01T00:00:00"), "not a time in the form"),
    "label good": (setter(label="good"), "'good' is a reserved reference"),
    "label like an id": (setter(label="deadbeef"), "looks like a checkpoint id"),
    "label with a newline": (setter(label="a\nb"), "control character"),
    "host with escapes": (setter(host="web1\x1b]8;;http://x\x07"), "host"),
    "user too long": (setter(user="u" * 300), "user is 300 characters long"),
}


@pytest.mark.parametrize("case", BAD_RECORDS, ids=list(BAD_RECORDS))
def test_record_values_are_checked(
    shared_export: Exported, bare_site: Path, tmp_path: Path, case: str
) -> None:
    change, reason = BAD_RECORDS[case]
    archive = forge(shared_export, tmp_path / "forged.tar.gz", change)
    before = repo_state(bare_site)
    proc = sp("import", archive, cwd=bare_site)
    assert_one_line_error(proc, 2)
    assert "forged.tar.gz" in proc.stderr and reason in proc.stderr, proc.stderr
    assert "\x1b" not in proc.stderr
    assert repo_state(bare_site) == before
    assert sp("list", cwd=bare_site).returncode == 0


def test_a_refused_record_label_can_be_replaced(
    shared_export: Exported, bare_site: Path, tmp_path: Path
) -> None:
    archive = forge(shared_export, tmp_path / "forged.tar.gz", setter(label="latest"))
    proc = sp("import", archive, cwd=bare_site)
    assert_one_line_error(proc, 2)
    assert "--label" in proc.stderr
    doc = sp_json("import", archive, "--label", "from-web1", cwd=bare_site)
    assert doc["label"] == "from-web1"
    assert_one_line_error(sp("import", archive, "--label", "good", cwd=bare_site), 2)


def test_a_plain_archive_dated_in_the_future_is_not_latest(bare_site: Path, tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "future.tar.gz", [TOP, member("app/x.py", b"x = 1\n")])
    os.utime(archive, (4_000_000_000, 4_000_000_000))  # 2096
    doc = sp_json("import", archive, cwd=bare_site)
    assert doc["created"] < "2096"
    assert sp_json("show", "future", cwd=bare_site)["id"] == doc["id"]
