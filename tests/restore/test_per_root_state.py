"""Two site roots sharing one repository folder: each keeps its own journal, head and tree
cache (store/state.py), so one root's pending recovery never blocks the other and status
compares each tree with its own last checkpoint; an older repository's pending journal is
adopted on upgrade, never lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.helpers import SAFEPOINT, snapshot, sp, sp_json, state_dir, write


def shared_root(root: Path, repo: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        write(root / name, text)
    write(root / "safepoint.toml", f'[repository]\npath = "{repo}"\n')
    sp("init", cwd=root, check=True)
    return root


def head_label(root: Path) -> str:
    status = sp_json("status", cwd=root)
    labels = {c["id"]: c["label"] for c in sp_json("list", cwd=root)}
    return str(labels[status["from"]])


def test_each_root_sees_its_own_head(tmp_path: Path) -> None:
    repo = tmp_path / "shared-repo"
    a = shared_root(tmp_path / "a", repo, {"app.py": "a1\n"})
    b = shared_root(tmp_path / "b", repo, {"app.py": "b1\n", "other.py": "b\n"})
    sp("create", "--label", "A1", cwd=a, check=True)
    sp("create", "--label", "B1", cwd=b, check=True)
    assert head_label(a) == "A1" and head_label(b) == "B1"
    assert sp_json("status", cwd=a)["clean"] and sp_json("status", cwd=b)["clean"]
    assert not any((repo / name).exists() for name in ("journal.json", "head.json", "treecache"))
    # The state folder is never part of a checkpoint.
    assert sp_json("show", "A1", cwd=a)["files"] == 1


def big_change(root: Path, version: str, files: int = 1500) -> None:
    for i in range(files):
        write(root / "pkg" / f"m{i:04}.py", f"# {version} {i}\n" + "x" * 2000)


def kill_once_journal_written(root: Path, ref: str) -> None:
    """Start ``rollback REF`` and SIGKILL it the moment its journal exists (its apply phase
    has begun): the rollback is interrupted as a power cut would."""
    journal = state_dir(root) / "journal.json"
    proc = subprocess.Popen(
        [SAFEPOINT, "rollback", ref, "--yes", "--no-health"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
    assert journal.exists()


def test_a_pending_recovery_on_one_root_leaves_the_other_free(tmp_path: Path) -> None:
    repo = tmp_path / "shared-repo"
    a = shared_root(tmp_path / "a", repo, {"app.py": "a\n"})
    b = shared_root(tmp_path / "b", repo, {"app.py": "b1\n"})
    big_change(a, "v1")
    sp("create", "--label", "A1", cwd=a, check=True)
    big_change(a, "v2")
    sp("create", "--label", "A2", cwd=a, check=True)
    sp("create", "--label", "B1", cwd=b, check=True)
    write(b / "app.py", "b2\n")
    sp("create", "--label", "B2", cwd=b, check=True)
    b1 = snapshot(b)

    kill_once_journal_written(a, "A1")
    assert "RECOVERY PENDING" in sp("status", cwd=a).stdout
    assert sp_json("status", cwd=b)["pending_recovery"] is None

    rolled = sp("rollback", "B1", "--yes", "--no-health", cwd=b)
    assert rolled.returncode == 0, rolled.stderr
    assert (b / "app.py").read_text() == "b1\n"
    write(b / "app.py", "b1\n")  # same content: B's tree is at B1
    assert snapshot(b).keys() == b1.keys()

    done = sp("recover", cwd=a)
    assert done.returncode == 0, done.stderr
    assert not (state_dir(a) / "journal.json").exists()
    assert sp_json("status", cwd=a)["pending_recovery"] is None
    verified = sp("verify", cwd=a)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_an_older_repositorys_pending_journal_is_recovered_after_the_upgrade(
    tmp_path: Path,
) -> None:
    """A repository written before per-root state holds journal.json and head.json at its top:
    the first open adopts them, so the interrupted rollback is still finished."""
    repo = tmp_path / "repo"
    site = shared_root(tmp_path / "site", repo, {"app.py": "v1\n", "lib.py": "v1\n"})
    sp("create", "--label", "A", cwd=site, check=True)
    write(site / "app.py", "v2\n")
    write(site / "lib.py", "v2\n")
    sp("create", "--label", "B", cwd=site, check=True)
    ids = {c["label"]: c["id"] for c in sp_json("list", cwd=site)}
    # The old layout: no state folder, its files at the repository's top; a rollback B -> A
    # was killed after switching one file.
    old = state_dir(site)
    for name in ("head.json", "treecache"):
        if (old / name).exists():
            os.rename(old / name, repo / name)
    shutil.rmtree(old.parent)  # and gc-seen, which older versions did not write
    write(site / "app.py", "v1\n")
    journal = {"version": 1, "target": ids["A"], "safety": ids["B"], "nonce": "1a2b3c4d"}
    (repo / "journal.json").write_text(json.dumps({**journal, "started": "2026-01-01T00:00:00Z"}))

    status = sp("status", cwd=site)
    assert "RECOVERY PENDING" in status.stdout, status.stdout + status.stderr
    refused = sp("create", cwd=site)
    assert refused.returncode != 0 and "safepoint recover" in refused.stderr
    done = sp("recover", cwd=site)
    assert done.returncode == 0, done.stderr
    contents = {(site / n).read_text() for n in ("app.py", "lib.py")}
    assert contents in ({"v1\n"}, {"v2\n"})  # wholly at the target or wholly as before
    assert not (repo / "journal.json").exists()
    assert not (state_dir(site) / "journal.json").exists()
    assert sp_json("status", cwd=site)["pending_recovery"] is None


def test_another_roots_pending_rollback_keeps_its_checkpoints_from_forget_and_gc(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "shared-repo"
    a = shared_root(tmp_path / "a", repo, {"app.py": "a\n"})
    b = shared_root(tmp_path / "b", repo, {"app.py": "b\n"})
    sp("create", "--label", "A1", cwd=a, check=True)
    big_change(b, "v1")
    sp("create", "--label", "B1", cwd=b, check=True)
    big_change(b, "v2")
    sp("create", "--label", "B2", cwd=b, check=True)
    kill_once_journal_written(b, "B1")

    refused = sp("forget", "B1", cwd=a)
    assert refused.returncode == 2 and "rollback" in refused.stderr, refused.stderr
    forced = sp("forget", "B1", "--force", cwd=a)  # JOURNAL is not forceable
    assert forced.returncode == 2, forced.stderr
    gc = sp("gc", cwd=a)
    assert gc.returncode == 0, gc.stderr
    done = sp("recover", cwd=b)
    assert done.returncode == 0, done.stderr
    verified = sp("verify", cwd=b)
    assert verified.returncode == 0, verified.stdout + verified.stderr
