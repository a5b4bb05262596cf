"""The commands on a repository in S3 (a real moto server on 127.0.0.1): two site roots
("hosts") sharing one bucket, through real ``safepoint`` subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import (
    EXCLUDED,
    SAFEPOINT,
    assert_one_line_error,
    make_site,
    snapshot,
    sp,
    write,
)
from tests.remote.conftest import Remote
from tests.store.backend.servers import Server

pytestmark = pytest.mark.slow  # each test runs a dozen commands against moto (scrypt: 0.5 s each)


def run(
    remote: Remote, root: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = sp(*args, cwd=root, env=remote.env)
    if check:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def listing(remote: Remote, root: Path) -> dict[str, dict[str, object]]:
    import json

    return {
        c["label"] or c["id"]: c for c in json.loads(run(remote, root, "list", "--json").stdout)
    }


def objects(remote: Remote, *, bodies: bool = True) -> dict[str, bytes]:
    """Every object in the bucket (key -> content; without ``bodies``: key -> b"")."""
    bucket, s3 = remote.bucket, remote.s3()
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            out[key] = s3.get_object(Bucket=bucket, Key=key)["Body"].read() if bodies else b""
    return out


def test_every_entry_kind_round_trips_through_s3(remote: Remote, tmp_path: Path) -> None:
    a = remote.site(make_site(tmp_path / "a"))
    run(remote, a, "init")
    run(remote, a, "create", "--label", "A1")
    b = remote.site(tmp_path / "b")
    run(remote, b, "init")  # joins: the passphrase opens a key slot
    out = tmp_path / "out"
    run(remote, b, "restore", "A1", "--to", str(out))
    assert snapshot(out) == snapshot(a, skip=EXCLUDED)
    verified = run(remote, b, "verify")
    assert "checked" in verified.stdout


def test_two_hosts_see_each_others_checkpoints_and_roll_back_to_them(
    remote: Remote, tmp_path: Path
) -> None:
    a = remote.site(tmp_path / "a")
    write(a / "app.py", "print('v1')\n")
    write(a / "static" / "site.css", "body{}\n")
    run(remote, a, "init")
    run(remote, a, "create", "--label", "A1")
    b = remote.site(tmp_path / "b")
    write(b / "app.py", "print('b')\n")
    write(b / "old.py", "gone after the rollback\n")
    run(remote, b, "init")
    seen = listing(remote, b)
    assert seen["A1"]["host"] == os.uname().nodename  # list shows where it was made
    assert "A1" in run(remote, b, "list").stdout
    rolled = run(remote, b, "rollback", "A1", "--yes", "--no-health")
    assert "rolled back" in rolled.stdout
    assert (
        snapshot(b, skip=("safepoint.toml",)).keys() == snapshot(a, skip=("safepoint.toml",)).keys()
    )
    assert (b / "app.py").read_text() == "print('v1')\n" and not (b / "old.py").exists()
    # B's safety checkpoint (its tree before) was stored in turn: A sees it.
    safeties = [c for c in listing(remote, a).values() if c["kind"] == "safety"]
    assert len(safeties) == 1
    status = run(remote, b, "status", "--json")
    assert '"clean": true' in status.stdout
    # A's head is still its own.
    assert listing(remote, a)["A1"]["id"] in run(remote, a, "status", "--json").stdout


def test_ten_edits_upload_only_their_data_and_a_rollback_downloads_only_what_it_lacks(
    remote: Remote, tmp_path: Path
) -> None:
    a = remote.site(tmp_path / "a")
    for d in range(20):
        for f in range(50):
            write(a / f"pkg{d:02}" / f"m{f:02}.py", os.urandom(4096))  # 4 MiB, incompressible
    run(remote, a, "init")
    remote.transfers()
    run(remote, a, "create", "--label", "A1")
    first = sum(t["sent"] for t in remote.transfers())
    assert first > 4_000_000
    for d in range(10):
        write(a / f"pkg{d:02}" / "m00.py", os.urandom(4096))
    run(remote, a, "create", "--label", "A2")
    second = sum(t["sent"] for t in remote.transfers())
    assert 10 * 4096 < second < 10 * 4096 + 64 * 1024, second  # the edits and small records

    b = remote.site(tmp_path / "b")
    run(remote, b, "init")
    remote.transfers()
    run(remote, b, "rollback", "A1", "--yes", "--no-health")
    fetched = sum(t["received"] for t in remote.transfers())
    assert fetched > 4_000_000
    run(remote, b, "rollback", "A2", "--yes", "--no-health")
    again = sum(t["received"] for t in remote.transfers())
    assert again < 10 * 4096 + 64 * 1024, again  # only the pack of the ten edits
    assert (b / "pkg03" / "m00.py").read_bytes() == (a / "pkg03" / "m00.py").read_bytes()


def test_two_hosts_creating_at_once_never_corrupt_the_repository(
    remote: Remote, tmp_path: Path
) -> None:
    roots = []
    for name in ("a", "b"):
        root = remote.site(tmp_path / name)
        for i in range(300):
            write(root / "pkg" / f"{name}{i}.py", os.urandom(20_000))
        run(remote, root, "init")
        roots.append(root)
    env = {**os.environ, **remote.env}
    procs = [
        subprocess.Popen(
            [SAFEPOINT, "create", "--label", f"{r.name}1"], cwd=r, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for r in roots
    ]  # fmt: skip
    results = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    for code, (_out, err) in zip(codes, results, strict=True):
        assert code == 0 or ("lock" in err and "safepoint" in err), err
    made = {label for r in roots for label in listing(remote, r)}
    for r, code in zip(roots, codes, strict=True):
        if code == 0:
            assert f"{r.name}1" in made
    for r in roots:
        verified = run(remote, r, "verify")
        assert "checked" in verified.stdout


def test_kill_during_upload_leaves_no_record_pointing_at_missing_data(
    remote: Remote, tmp_path: Path
) -> None:
    a = remote.site(tmp_path / "a")
    write(a / "app.py", "v1\n")
    run(remote, a, "init")
    run(remote, a, "create", "--label", "A1")
    for i in range(8):
        write(a / "static" / f"big{i}.bin", os.urandom(8 * 1024 * 1024))
    env = {**os.environ, **remote.env}
    proc = subprocess.Popen(
        [SAFEPOINT, "create", "--label", "A2"], cwd=a, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while not any(k.endswith("/lock") for k in objects(remote, bodies=False)):  # uploading
            assert proc.poll() is None, "create ended before it took the lock"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    # Another host sees only checkpoints whose data is all there.
    b = remote.site(tmp_path / "b")
    run(remote, b, "init")
    verified = run(remote, b, "verify")
    assert "checked" in verified.stdout
    # The next create on A takes over the dead writer's lock and stores the rest.
    run(remote, a, "create", "--label", "A3")
    run(remote, b, "verify")
    out = tmp_path / "out"
    run(remote, b, "restore", "A3", "--to", str(out))
    assert (out / "static" / "big7.bin").read_bytes() == (a / "static" / "big7.bin").read_bytes()


def test_the_bucket_reveals_no_secret_and_no_file_hash(remote: Remote, tmp_path: Path) -> None:
    secret = b"SECRET_KEY = 'k3j4h5g6-the-known-secret-string'\n"
    a = remote.site(tmp_path / "a")
    write(a / "settings.py", secret)
    write(a / "app.py", "print('hello')\n")
    run(remote, a, "init")
    run(remote, a, "create", "--label", "A1")
    stored = objects(remote)
    assert any("/packs/" in k for k in stored) and any("/checkpoints/" in k for k in stored)
    hashes = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a / "settings.py", a / "app.py")]
    for key, body in stored.items():
        assert not any(h in key or h.encode() in body for h in hashes), key
        assert b"k3j4h5g6" not in body and b"k3j4h5g6" not in key.encode(), key


def test_a_wrong_passphrase_is_one_line_exit_2(remote: Remote, tmp_path: Path) -> None:
    a = remote.site(tmp_path / "a")
    write(a / "app.py", "v1\n")
    run(remote, a, "init")
    b = remote.site(tmp_path / "b")
    for args in (("init",), ("list",)):
        proc = sp(*args, cwd=b if args == ("init",) else a,
                  env={**remote.env, "SAFEPOINT_PASSWORD": "not it"})  # fmt: skip
        assert_one_line_error(proc, 2)
        assert "wrong passphrase" in proc.stderr
    assert not list(b.glob(".safepoint-state/*/cache/checkpoints/*"))


def test_a_server_without_conditional_writes_is_refused(rclone: Server, tmp_path: Path) -> None:
    remote = Remote(rclone, tmp_path)
    a = remote.site(tmp_path / "a")
    write(a / "app.py", "v1\n")
    proc = sp("init", cwd=a, env=remote.env)
    assert_one_line_error(proc, 2)
    assert "conditional" in proc.stderr


def test_forget_and_undelete_reach_every_host(remote: Remote, tmp_path: Path) -> None:
    a = remote.site(tmp_path / "a")
    write(a / "app.py", "v1\n")
    run(remote, a, "init")
    run(remote, a, "create", "--label", "A1")
    write(a / "app.py", "v2\n")
    run(remote, a, "create", "--label", "A2")
    b = remote.site(tmp_path / "b")
    run(remote, b, "init")
    assert {"A1", "A2"} <= listing(remote, b).keys()
    run(remote, a, "forget", "A1")
    assert "A1" not in listing(remote, b)
    assert "A1" in run(remote, b, "list", "--forgotten").stdout
    run(remote, b, "undelete", "A1")
    assert "A1" in listing(remote, a)
    run(remote, a, "prune", "--keep-last", "1")
    assert list(listing(remote, b)) == ["A2"]
    # The forgotten checkpoint's data stays until a gc: undelete and restore it.
    run(remote, b, "undelete", "A1")
    run(remote, b, "restore", "A1", "--to", str(tmp_path / "out"))
    assert (tmp_path / "out" / "app.py").read_text() == "v1\n"


def test_an_archive_exported_elsewhere_is_imported_into_s3_for_every_host(
    remote: Remote, tmp_path: Path
) -> None:
    local = make_site(tmp_path / "local")
    sp("init", cwd=local, check=True)
    sp("create", "--label", "L1", cwd=local, check=True)
    exported = tmp_path / "exports"
    exported.mkdir()
    sp("export", "L1", "-o", f"{exported}/", cwd=local, check=True)
    archive = next(exported.glob("*.tar.gz"))
    a = remote.site(tmp_path / "a")
    write(a / "app.py", "v1\n")
    run(remote, a, "init")
    run(remote, a, "import", str(archive))
    b = remote.site(tmp_path / "b")
    run(remote, b, "init")
    assert listing(remote, b)["L1"]["kind"] == "imported"
    out = tmp_path / "out"
    run(remote, b, "restore", "L1", "--to", str(out))
    assert snapshot(out) == snapshot(local, skip=EXCLUDED)


def test_check_on_s3_reads_no_pack_unless_asked_and_names_a_lost_one(
    remote: Remote, tmp_path: Path
) -> None:
    a = remote.site(tmp_path / "a")
    for i in range(20):
        write(a / "static" / f"f{i}.bin", os.urandom(2 * 1024 * 1024))
    run(remote, a, "init")
    run(remote, a, "create", "--label", "A1")
    b = remote.site(tmp_path / "b")
    run(remote, b, "init")
    remote.transfers()
    checked = run(remote, b, "check")
    # Only the pack that holds the manifest (it shares a pack with file data), not the data.
    structure = sum(t["received"] for t in remote.transfers())
    assert structure < 20 * 1024 * 1024, structure
    assert "A1" not in checked.stderr
    run(remote, b, "check", "--read-data")
    assert structure + sum(t["received"] for t in remote.transfers()) > 40 * 1024 * 1024
    # A pack lost on the remote: a host that never cached it is told which one.
    c = remote.site(tmp_path / "c")
    run(remote, c, "init")
    pack = next(k for k in objects(remote, bodies=False) if "/packs/" in k)
    remote.s3().delete_object(Bucket=remote.bucket, Key=pack)
    lost = run(remote, c, "check", check=False)
    assert lost.returncode == 3, lost.stdout + lost.stderr
    assert pack.rsplit("/", 1)[1] in lost.stdout + lost.stderr


def test_url_and_path_together_are_refused(tmp_path: Path) -> None:
    a = tmp_path / "a"
    write(a / "safepoint.toml", '[repository]\npath = "/tmp/x"\nurl = "s3://b/p"\n')
    assert_one_line_error(sp("status", cwd=a), 2)
    write(a / "safepoint.toml", '[repository]\nurl = "http://b/p"\n')
    assert_one_line_error(sp("status", cwd=a), 2)


def test_an_interrupted_rollback_on_a_remote_repository_is_recovered(
    remote: Remote, tmp_path: Path
) -> None:
    a = remote.site(tmp_path / "a")
    for i in range(1500):
        write(a / "pkg" / f"m{i:04}.py", f"# v1 {i}\n" + "x" * 2000)
    run(remote, a, "init")
    run(remote, a, "create", "--label", "A1")
    for i in range(1500):
        write(a / "pkg" / f"m{i:04}.py", f"# v2 {i}\n" + "y" * 2000)
    run(remote, a, "create", "--label", "A2")
    journal = next(a.glob(".safepoint-state/*/cache")) / "journal.json"
    proc = subprocess.Popen(
        [SAFEPOINT, "rollback", "A1", "--yes", "--no-health"], cwd=a,
        env={**os.environ, **remote.env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while not journal.exists():
            assert proc.poll() is None, "the rollback ended before it wrote its journal"
            assert time.monotonic() < deadline
            time.sleep(0.0005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    assert "RECOVERY PENDING" in run(remote, a, "status").stdout
    assert "safepoint recover" in run(remote, a, "create", check=False).stderr
    run(remote, a, "recover")
    assert not journal.exists()
    texts = {(a / "pkg" / f"m{i:04}.py").read_text()[:5] for i in range(1500)}
    assert texts in ({"# v1 "}, {"# v2 "})  # wholly at the target or wholly as before
    # The safety checkpoint the rollback stored went to the remote before any file changed.
    b = remote.site(tmp_path / "b")
    run(remote, b, "init")
    assert any(c["kind"] == "safety" for c in listing(remote, b).values())


def test_copy_to_s3_and_a_mirror_on_s3_reach_another_host(remote: Remote, tmp_path: Path) -> None:
    """A fast local repository on the host, an encrypted copy off-host: ``copy --to s3://``
    and ``[repository] mirror = "s3://..."``; a second host on that bucket restores both."""
    local = make_site(tmp_path / "local")
    (local / "safepoint.toml").write_text(f'[repository]\nmirror = "{remote.url}"\n')
    run(remote, local, "init")
    write(local / "app.py", "v1\n")
    run(remote, local, "create", "--label", "v1")  # the mirror is created and filled
    write(local / "app.py", "v2\n")
    (local / "safepoint.toml").write_text("")  # v2 goes by hand
    run(remote, local, "create", "--label", "v2")
    run(remote, local, "copy", "v2", "--to", remote.url)
    again = json.loads(run(remote, local, "copy", "v2", "--to", remote.url, "--json").stdout)
    assert again["checkpoints"][0]["copied"] is False and again["blobs"] == 0
    other = remote.site(tmp_path / "other")
    run(remote, other, "init")
    assert {"v1", "v2"} <= set(listing(remote, other))
    for label, text in (("v1", "v1\n"), ("v2", "v2\n")):
        target = tmp_path / f"restored-{label}"
        run(remote, other, "restore", label, "--to", str(target))
        assert (target / "app.py").read_text() == text
