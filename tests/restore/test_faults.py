"""Faults a rollback must survive without losing a live file or leaving the site half-way:
packs deleted or damaged behind the index's back, a full disk while recovering or undoing, a
malformed journal, a full disk while storing. The disk-full cases run on a small tmpfs that
the test mounts (skipped where mounting is not allowed)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, snapshot, sp, sp_json, state_dir, write

EXTRA = b"def afternoon():\n    return 'work nobody else has'\n" * 40


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` for the duration (a disk that can fill up)."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); disk-full cases need one")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` until ``leave`` bytes are free; returns the filler file."""
    filler = disk / "filler"
    st = os.statvfs(disk)
    size = max(0, st.f_bavail * st.f_frsize - leave)
    with open(filler, "wb", buffering=0) as f, suppress(OSError):
        f.write(b"\0" * size)
    return filler


def blob_location(repo: Path, content: bytes, *, by_id: bool = False) -> tuple[Path, int]:
    """The pack holding ``content`` (or, ``by_id``, the blob with that id) and its record's
    offset, from the index."""
    db = sqlite3.connect(repo / "index.sqlite")
    try:
        name, offset = db.execute(
            "SELECT p.name, b.offset FROM blobs b JOIN packs p ON p.id=b.pack WHERE b.id=?",
            (content if by_id else hashlib.sha256(content).digest(),),
        ).fetchone()
    finally:
        db.close()
    return repo / "packs" / name[:2] / f"{name}.pack", offset


def blob_content(repo: Path, blob_id: bytes) -> bytes:
    from safepoint.store.repository import Repository

    with Repository.open(repo) as r:
        return r.read_blob(blob_id)


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def safety_id(site: Path) -> str:
    return next(c["id"] for c in sp_json("list", cwd=site) if c["kind"] == "safety")


def afternoon(site: Path) -> None:
    """A checkpoint 'stable', then an afternoon's work checkpointed as 'afternoon': a new file
    and a changed one, whose content only the afternoon's pack holds."""
    sp("create", "--label", "stable", cwd=site, check=True)
    write(site / "eventsite" / "extra.py", EXTRA)
    write(site / "eventsite" / "urls.py", "urlpatterns = ['afternoon']\n")
    sp("create", "--label", "afternoon", cwd=site, check=True)


def undo_gives_back_the_afternoon(site: Path, before: dict) -> None:
    assert not (site / "eventsite" / "extra.py").exists()
    back = sp("rollback", safety_id(site), "--yes", "--no-health", cwd=site)
    assert back.returncode == 0, back.stderr
    assert snapshot(site, skip=(".safepoint",)) == before


# -- item 1: dedup never trusts the index alone ------------------------------------------------


def test_deleted_pack_then_rollback_still_gives_back_what_it_removed(site: Path) -> None:
    afternoon(site)
    before = snapshot(site, skip=(".safepoint",))
    pack, _ = blob_location(site / ".safepoint", EXTRA)
    pack.unlink()  # lost behind the index's back (a bad disk, a hand-made cleanup)
    proc = sp("rollback", "stable", "--yes", "--no-health", cwd=site)
    assert proc.returncode == 0, proc.stderr
    assert "1 pack(s) of the repository are missing" in proc.stderr
    undo_gives_back_the_afternoon(site, before)


def test_deleted_pack_then_create_stores_the_content_again(site: Path) -> None:
    afternoon(site)
    pack, _ = blob_location(site / ".safepoint", EXTRA)
    pack.unlink()
    sp("create", "--label", "evening", cwd=site, check=True)
    verified = sp("verify", "evening", cwd=site)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_flipped_byte_then_rollback_stores_the_file_again_first(site: Path) -> None:
    afternoon(site)
    before = snapshot(site, skip=(".safepoint",))
    pack, offset = blob_location(site / ".safepoint", EXTRA)
    flip(pack, offset + 50 + 20)  # in the stored bytes: only reading the blob back shows it
    proc = sp("rollback", "stable", "--yes", "--no-health", cwd=site)
    assert proc.returncode == 0, proc.stderr
    undo_gives_back_the_afternoon(site, before)


def test_damaged_manifest_chunk_then_rollback_can_still_be_undone(site: Path) -> None:
    """The manifest chunk that lists the afternoon's new file is damaged in its pack: the
    safety checkpoint shares it, and undoing the rollback needs it to know what to put back."""
    afternoon(site)
    before = snapshot(site, skip=(".safepoint",))
    repo = site / ".safepoint"
    top = sp_json("show", "afternoon", cwd=site)["manifest"]
    listing = blob_content(repo, bytes.fromhex(top))
    chunk = next(
        c for c in json.loads(listing)["chunks"]
        if b"eventsite/extra.py" in blob_content(repo, bytes.fromhex(c))
    )
    pack, offset = blob_location(repo, bytes.fromhex(chunk), by_id=True)
    flip(pack, offset + 50 + 12)
    proc = sp("rollback", "stable", "--yes", "--no-health", cwd=site)
    assert proc.returncode == 0, proc.stderr
    undo_gives_back_the_afternoon(site, before)


def test_damaged_record_header_then_create_stores_the_content_again(site: Path) -> None:
    afternoon(site)
    pack, offset = blob_location(site / ".safepoint", EXTRA)
    flip(pack, offset + 10)  # in the record header that dedup checks
    os.utime(site / "eventsite" / "extra.py")  # read again by the next checkpoint
    sp("create", "--label", "evening", cwd=site, check=True)
    verified = sp("verify", "evening", cwd=site)
    assert verified.returncode == 0, verified.stdout + verified.stderr


# -- item 11 (journal): a malformed journal.json ---------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"[]",
        b"null",
        b'"rollback"',
        b"{}",
        b'{"version": 1}',
        b'{"version": 1, "target": 7, "safety": "x", "nonce": "n", "started": "t"}',
        b'{"version": 1, "target": "a", "safety": "b", "nonce": "n", "started": "t", "x": 1}',
        b'{"version": 1, "target": "a", "saf',
        b"\xff\xfe",
    ],
)
def test_malformed_journal_is_refused_and_kept(site: Path, content: bytes) -> None:
    sp("create", "--label", "stable", cwd=site, check=True)
    journal = site / ".safepoint" / "journal.json"
    journal.write_bytes(content)
    proc = sp("recover", cwd=site)
    assert_one_line_error(proc, 3)
    assert "journal" in proc.stderr and "is damaged" in proc.stderr
    assert journal.read_bytes() == content
    status = sp("status", cwd=site)
    assert status.returncode == 0 and "RECOVERY PENDING" in status.stdout, status.stderr
    refused = sp("create", cwd=site)
    assert_one_line_error(refused, 1)
    assert "journal" in refused.stderr


# -- item 2: the journal stays until the site is wholly at one side ----------------------------


def configure(site: Path, repo: Path, extra: str = "") -> None:
    """``safepoint.toml`` with the repository at ``repo``, and the repository."""
    (site / "safepoint.toml").write_text(f'[repository]\npath = "{repo}"\n{extra}')
    sp("init", cwd=site, check=True)


def disk_site(disk: Path, repo: Path, extra: str = "") -> Path:
    """A site on ``disk`` whose repository is elsewhere (so only the site's disk fills up)."""
    site = disk / "site"
    write(site / "static" / "bundle.js", os.urandom(3 * 1024 * 1024))
    for i in range(10):
        write(site / "app" / f"m{i}.py", f"# v1 {i}\n")
    configure(site, repo, extra)
    return site


def test_recover_on_a_full_disk_keeps_the_journal_until_it_can_finish(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "8m") as disk:
        site = disk_site(disk, tmp_path / "repo")
        sp("create", "--label", "A", cwd=site, check=True)
        state_a = snapshot(site)
        a_files = {p: p.read_bytes() for p in (site / "app").iterdir()}
        write(site / "static" / "bundle.js", os.urandom(3 * 1024 * 1024))
        for i in range(10):
            write(site / "app" / f"m{i}.py", f"# v2 {i}\n")
        sp("create", "--label", "B", cwd=site, check=True)
        ids = {c["label"]: c["id"] for c in sp_json("list", cwd=site)}
        # A rollback from B to A was killed half-way: five files switched, the bundle not.
        for path in sorted(a_files)[:5]:
            path.write_bytes(a_files[path])
        journal = state_dir(site) / "journal.json"
        doc = {"version": 1, "target": ids["A"], "safety": ids["B"], "nonce": "1a2b3c4d"}
        journal.write_text(json.dumps({**doc, "started": "2026-01-01T00:00:00+00:00"}))
        filler = fill(disk, leave=1024 * 1024)

        proc = sp("recover", cwd=site)
        assert_one_line_error(proc, 1)
        assert "No space left on device" in proc.stderr
        assert f"{site}/" in proc.stderr and "needs about 3.0 MiB" in proc.stderr
        assert "free there" in proc.stderr and "safepoint recover" in proc.stderr
        assert journal.exists()
        status = sp("status", cwd=site)
        assert "RECOVERY PENDING" in status.stdout and "safepoint recover" in status.stdout
        refused = sp("create", cwd=site)
        assert_one_line_error(refused, 1)
        assert "safepoint recover" in refused.stderr

        filler.unlink()
        done = sp("recover", cwd=site)
        assert done.returncode == 0, done.stderr
        assert "finished the interrupted rollback" in done.stdout
        assert not journal.exists()
        assert snapshot(site) == state_a


def test_undo_on_a_full_disk_keeps_the_journal_until_recover(tmp_path: Path) -> None:
    """The target is unhealthy and, while the app restarted, the disk filled up: the undo
    cannot stage the files it must put back."""
    with tmpfs(tmp_path / "disk", "8m") as disk:
        filler = disk / "filler"
        site = disk_site(
            disk,
            tmp_path / "repo",
            f'[hooks]\nafter_restore = ["dd if=/dev/zero of={filler} bs=64k 2>/dev/null; true"]\n'
            '[health]\nretries = 1\ntimeout = 2\n[[health.command]]\nrun = "false"\n',
        )
        sp("create", "--label", "A", cwd=site, check=True)
        write(site / "static" / "bundle.js", os.urandom(3 * 1024 * 1024))
        write(site / "app" / "m1.py", "# v2\n")
        before = snapshot(site)
        journal = state_dir(site) / "journal.json"

        proc = sp("rollback", "A", "--yes", cwd=site)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "undoing it failed" in proc.stderr and "No space left on device" in proc.stderr
        filler.unlink()
        if journal.exists():  # the undo began: recover finishes it
            assert json.loads(journal.read_text())["purpose"] == "undo"
            assert "RECOVERY PENDING" in sp("status", cwd=site).stdout
            done = sp("recover", cwd=site)
        else:
            # The root's state folder is on the full disk: the undo could not write its
            # journal, so it changed nothing; the message names the safety checkpoint.
            safety = proc.stderr.rsplit("the safety checkpoint is ", 1)[1].split()[0]
            done = sp("rollback", safety, "--yes", "--no-health", cwd=site)
        assert done.returncode == 0, done.stderr
        assert not journal.exists()
        assert snapshot(site) == before  # back where it was before the unhealthy rollback


def test_undo_stopped_by_an_immutable_folder_keeps_the_journal(tmp_path: Path) -> None:
    """The target is unhealthy, and while the app restarted a folder the undo must write into
    became immutable (chattr +i, as a deploy tool or an admin may do)."""
    site = tmp_path / "site"
    locked = site / "app"
    write(site / "app" / "views.py", "v1\n")
    write(site / "static" / "main.css", "v1\n")
    configure(
        site,
        tmp_path / "repo",
        f'[hooks]\nafter_restore = ["chattr +i {locked}"]\n'
        '[health]\nretries = 1\ntimeout = 2\n[[health.command]]\nrun = "false"\n',
    )
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root on ext4/tmpfs-like filesystems)")
    subprocess.run(["chattr", "-i", str(locked)], check=True)
    sp("create", "--label", "A", cwd=site, check=True)
    write(site / "app" / "views.py", "v2\n")
    write(site / "static" / "main.css", "v2\n")
    before = snapshot(site)
    journal = state_dir(site) / "journal.json"
    try:
        proc = sp("rollback", "A", "--yes", cwd=site)
        assert_one_line_error(proc, 1)
        assert "undoing it failed" in proc.stderr
        assert f"Operation not permitted: {locked}/" in proc.stderr
        assert journal.exists()
        assert "RECOVERY PENDING" in sp("status", cwd=site).stdout
        assert "safepoint recover" in sp("create", cwd=site).stderr
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    done = sp("recover", cwd=site)
    assert done.returncode == 0, done.stderr
    assert not journal.exists()
    assert snapshot(site) == before


# -- item 13: a full disk names the path and the space ----------------------------------------


def test_create_on_a_full_disk_names_the_path(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "2m") as disk:
        site = tmp_path / "site"
        write(site / "static" / "video.bin", os.urandom(4 * 1024 * 1024))
        configure(site, disk / "repo")
        proc = sp("create", cwd=site)
        assert_one_line_error(proc, 1)
        assert f"No space left on device: {disk}/repo/packs/" in proc.stderr
        assert "free there" in proc.stderr
        assert not list((disk / "repo" / "packs").glob("*/*.tmp"))
