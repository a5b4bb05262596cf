"""``repair`` and ``repair index`` on a repository in S3 (a real moto server): damage made in
the bucket as a failing disk or a careless hand would, seen by ``check`` from a fresh root,
healed by the root that still has the files, and what stays lost marked damaged for every host;
crash safety; gc and repair delete the marks of checkpoints that are gone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import SAFEPOINT, assert_one_line_error, snapshot, sp, write
from tests.remote.conftest import Remote
from tests.remote.test_remote_commands import run
from tests.remote.test_remote_gc import bucket, names
from tests.remote.test_remote_keys_lock import holder, release

pytestmark = pytest.mark.slow  # a dozen commands against moto each (scrypt: 0.5 s each)

SKIP = ("safepoint.toml", ".safepoint-state")


Trees = dict[str, dict[bytes, tuple[object, ...]]]
FILES = ("keep.bin", "change.bin", "app.py")


def three_versions(remote: Remote, root: Path) -> tuple[Trees, list[str]]:
    """Checkpoints V1..V3 of a site whose change.bin (1 MiB, random) changes each time; the
    trees of each and the pack each create uploaded (V2's and V3's hold only what changed)."""
    remote.site(root)
    write(root / "keep.bin", os.urandom(300_000))
    run(remote, root, "init")
    trees, packs = {}, []
    for n in (1, 2, 3):
        write(root / "change.bin", os.urandom(1 << 20))
        write(root / "app.py", f"print('v{n}')\n")
        before = names(remote, "packs")
        run(remote, root, "create", "--label", f"V{n}")
        (new,) = names(remote, "packs") - before
        packs.append(new)
        trees[f"V{n}"] = snapshot(root, skip=SKIP)
    return trees, packs


def key(remote: Remote, folder: str, name: str) -> str:
    ends = (f"/{folder}/{name}", f"/{folder}/{name[:2]}/{name}")
    (found,) = [k for k in bucket(remote) if k.endswith(ends)]
    return found


def corrupt(remote: Remote, pack: str) -> None:
    """Flip bytes in the middle of a pack object, as a failing disk of the service would."""
    s3, name = remote.s3(), key(remote, "packs", pack)
    body = bytearray(s3.get_object(Bucket=remote.bucket, Key=name)["Body"].read())
    for i in range(len(body) // 2, len(body) // 2 + 64):
        body[i] ^= 0xFF
    s3.put_object(Bucket=remote.bucket, Key=name, Body=bytes(body))


def delete(remote: Remote, folder: str, name: str) -> None:
    remote.s3().delete_object(Bucket=remote.bucket, Key=key(remote, folder, name))


def fresh(remote: Remote, root: Path) -> Path:
    remote.site(root)
    run(remote, root, "init")
    return root


def copy_site(src: Path, dst: Path) -> None:
    """The site's files as ``src`` has them now (a second host serving the same tree)."""
    for name in FILES:
        shutil.copy2(src / name, dst / name)


def damaged(remote: Remote, root: Path) -> list[str]:
    """The labels ``list`` says are damaged."""
    lines = run(remote, root, "list").stdout.splitlines()
    return [ln.split("(")[1].split(")")[0] for ln in lines if ln.startswith("DAMAGED")]


def assert_restores(remote: Remote, root: Path, trees: Trees, out: Path) -> None:
    for label, tree in trees.items():
        run(remote, root, "restore", label, "--to", str(out / label))
        assert snapshot(out / label) == tree, label


def test_a_corrupt_pack_is_seen_by_check_and_healed_from_the_site(
    remote: Remote, tmp_path: Path
) -> None:
    a = tmp_path / "a"
    trees, packs = three_versions(remote, a)
    corrupt(remote, packs[2])  # V3's: its change.bin is still on the site
    b = fresh(remote, tmp_path / "b")
    seen = run(remote, b, "check", "--read-data", check=False)
    assert seen.returncode == 3, seen.stdout + seen.stderr
    assert "damaged" in seen.stdout + seen.stderr

    # b serves the same files, and its cache never held that pack: healed from the site.
    copy_site(a, b)
    done = run(remote, b, "repair")
    assert f"REPLACED pack {packs[2]}" in done.stdout
    assert "HEALED" in done.stdout and "the site: change.bin" in done.stdout
    assert packs[2] not in names(remote, "packs") | names(remote, "index")
    assert names(remote, "packs") == names(remote, "index")

    c = fresh(remote, tmp_path / "c")
    clean = run(remote, c, "check", "--read-data", check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert_restores(remote, c, trees, tmp_path / "out-c")
    assert damaged(remote, c) == []
    # a pulled before the repair: its next pull forgets the replaced pack (and its copy).
    again = run(remote, a, "check", "--read-data", check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not list(a.glob(f".safepoint-state/*/cache/packs/*/{packs[2]}.pack"))


def test_a_corrupt_pack_is_healed_from_the_cached_copy_of_the_host_that_wrote_it(
    remote: Remote, tmp_path: Path
) -> None:
    a = tmp_path / "a"
    trees, packs = three_versions(remote, a)
    corrupt(remote, packs[0])  # V1's: keep.bin, which every checkpoint needs
    (a / "keep.bin").unlink()  # gone from the site: only a's cache still has it sound
    done = run(remote, a, "repair")
    assert f"REPLACED pack {packs[0]}" in done.stdout and "DAMAGED" not in done.stdout
    c = fresh(remote, tmp_path / "c")
    clean = run(remote, c, "check", "--read-data", check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert_restores(remote, c, trees, tmp_path / "out-c")


def test_a_missing_pack_whose_files_are_gone_marks_its_checkpoint_damaged_for_every_host(
    remote: Remote, tmp_path: Path
) -> None:
    trees, packs = three_versions(remote, tmp_path / "a")
    delete(remote, "packs", packs[1])  # V2's change.bin and manifest
    # A host whose site is at V3 and whose cache never held V2's pack repairs.
    b = fresh(remote, tmp_path / "b")
    copy_site(tmp_path / "a", b)
    done = run(remote, b, "repair", check=False)
    assert_one_line_error(done, 3)
    assert "DAMAGED" in done.stdout and "marked damaged" in done.stderr
    assert packs[1] not in names(remote, "index")

    c = fresh(remote, tmp_path / "c")
    assert damaged(remote, c) == ["V2"]
    checked = run(remote, c, "check", "--read-data", check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "marked damaged" in checked.stdout + checked.stderr
    refused = run(remote, c, "restore", "V2", "--to", str(tmp_path / "v2"), check=False)
    assert_one_line_error(refused, 3)
    assert "damaged" in refused.stderr
    assert_restores(remote, c, {k: trees[k] for k in ("V1", "V3")}, tmp_path / "out-c")
    # The repairing host sees it too; a second repair keeps the mark.
    assert run(remote, b, "repair", check=False).returncode == 3
    assert damaged(remote, b) == ["V2"]


def test_repair_index_writes_a_deleted_index_object_again(remote: Remote, tmp_path: Path) -> None:
    a = tmp_path / "a"
    trees, packs = three_versions(remote, a)
    delete(remote, "index", packs[0])  # V1's: keep.bin, needed by every checkpoint
    done = run(remote, a, "repair", "index")
    assert "rebuilt the index" in done.stdout
    assert names(remote, "packs") == names(remote, "index")

    c = fresh(remote, tmp_path / "c")
    assert_restores(remote, c, trees, tmp_path / "out-c")
    # c deduplicates against the rebuilt index object: keep.bin is not sent again.
    copy_site(a, c)
    remote.transfers()
    run(remote, c, "create", "--label", "C1")
    assert sum(t["sent"] for t in remote.transfers()) < 100_000


def kill_when_it_uploads(remote: Remote, root: Path) -> int:
    """Run repair and kill -9 it as soon as its first new object is in the bucket."""
    before = set(bucket(remote))
    proc = subprocess.Popen(
        [SAFEPOINT, "repair"],
        cwd=root,
        env={**os.environ, **remote.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if any(not k.endswith("/lock") for k in set(bucket(remote)) - before):
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        return proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.parametrize("point", ["first-upload", "repair-uploaded", "repair-index-deleted"])
def test_repair_killed_leaves_good_checkpoints_and_the_next_repair_finishes(
    remote: Remote, tmp_path: Path, point: str
) -> None:
    a = tmp_path / "a"
    trees, packs = three_versions(remote, a)
    corrupt(remote, packs[2])  # V3's; V1 and V2 do not need it
    if point == "first-upload":
        assert kill_when_it_uploads(remote, a) == -9  # killed mid-run, not finished before
    else:
        killed = sp("repair", cwd=a, env={**remote.env, "SAFEPOINT_TEST_GC_KILL": point})
        assert killed.returncode == -9, killed.stderr
    b = fresh(remote, tmp_path / "b")
    assert_restores(remote, b, {k: trees[k] for k in ("V1", "V2")}, tmp_path / "out-b")

    done = run(remote, a, "repair")  # takes the dead one's lock over (its pid is gone)
    assert "DAMAGED" not in done.stdout
    assert names(remote, "packs") == names(remote, "index")
    c = fresh(remote, tmp_path / "c")
    clean = run(remote, c, "check", "--read-data", check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert_restores(remote, c, trees, tmp_path / "out-c")


def test_repair_waits_for_another_hosts_lock_then_names_it(remote: Remote, tmp_path: Path) -> None:
    a = remote.site(tmp_path / "a")
    write(a / "app.py", "v1\n")
    run(remote, a, "init")
    run(remote, a, "create", "--label", "A1")
    held = holder(remote)
    try:
        proc = run(remote, a, "repair", "--wait", "1", check=False)
        assert_one_line_error(proc, 1)
        assert str(held.pid) in proc.stderr and "locked" in proc.stderr
    finally:
        release(held)
    done = run(remote, a, "repair")
    assert "checked 1 checkpoints" in done.stdout


@pytest.mark.parametrize("command", ["gc", "repair"])
def test_marks_of_a_checkpoint_gone_from_the_remote_are_deleted(
    remote: Remote, tmp_path: Path, command: str
) -> None:
    a = remote.site(tmp_path / "a")
    write(a / "app.py", "v0\n")
    run(remote, a, "init")
    for n in (1, 2):
        write(a / "app.py", f"v{n}\n")
        run(remote, a, "create", "--label", f"A{n}")
        run(remote, a, "mark", f"A{n}", "good")
    assert len(names(remote, "marks")) == 2
    run(remote, a, "forget", "A1")
    # What a gc killed right after deleting A1's forgotten record leaves: its marks object.
    (record,) = names(remote, "forgotten")
    delete(remote, "forgotten", record)
    run(remote, a, command)
    assert len(names(remote, "marks")) == 1
    assert "A2" in run(remote, a, "list").stdout


def test_repair_index_rebuilds_a_damaged_cache_index(remote: Remote, tmp_path: Path) -> None:
    a = tmp_path / "a"
    trees, _ = three_versions(remote, a)
    (index,) = a.glob(".safepoint-state/*/cache/index.sqlite")
    for leftover in index.parent.glob("index.sqlite-*"):
        leftover.unlink()
    index.write_bytes(b"not a database at all" * 100)
    broken = run(remote, a, "list", check=False)
    assert broken.returncode != 0 and "repair index" in broken.stderr
    done = run(remote, a, "repair", "index")
    assert "rebuilt the index" in done.stdout
    assert_restores(remote, a, trees, tmp_path / "out-a")
