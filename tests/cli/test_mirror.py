"""``[repository] mirror``: after each create, every checkpoint the mirror lacks is copied there;
a mirror that cannot be written does not fail the create (exit 0, a warning), and the next
create catches up."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from tests.helpers import sp, sp_json, write


def mirrored_site(tmp_path: Path, mirror: str = "../mirror") -> Path:
    root = tmp_path / "site"
    write(root / "app.py", "v1\n")
    write(root / "static" / "logo.bin", os.urandom(50_000))
    write(root / "safepoint.toml", f'[repository]\nmirror = "{mirror}"\n')
    sp("init", cwd=root, check=True)
    return root


def mirror_labels(tmp_path: Path, mirror: Path) -> list[str]:
    reader = tmp_path / "reader"
    write(reader / "safepoint.toml", f'[repository]\npath = "{mirror}"\n')
    return [c["label"] for c in sp_json("list", cwd=reader)]


def create(site: Path, label: str) -> tuple[dict[str, object], str]:
    write(site / "app.py", f"{label}\n")
    proc = sp("create", "--label", label, "--json", cwd=site)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_create_copies_the_new_checkpoint_to_the_mirror(tmp_path: Path) -> None:
    site = mirrored_site(tmp_path)
    doc, err = create(site, "v1")
    assert err == ""
    mirror = doc["mirror"]
    assert isinstance(mirror, dict)
    assert mirror["checkpoints"] == [{"id": doc["id"], "label": "v1", "copied": True}]
    assert mirror_labels(tmp_path, tmp_path / "mirror") == ["v1"]
    # The next create sends only what changed.
    doc, _ = create(site, "v2")
    assert doc["mirror"]["blobs"] < 6  # type: ignore[index]
    assert mirror_labels(tmp_path, tmp_path / "mirror") == ["v2", "v1"]
    reader = tmp_path / "reader"
    sp("restore", "v2", "--to", tmp_path / "out", cwd=reader, check=True)
    assert (tmp_path / "out" / "app.py").read_text() == "v2\n"
    assert (tmp_path / "out" / "static" / "logo.bin").read_bytes() == (
        site / "static" / "logo.bin"
    ).read_bytes()
    human = sp("create", "--label", "v3", cwd=site, check=True)
    assert "mirror: 1 checkpoint(s) copied" in human.stdout
    # A mark earned after v1 was mirrored goes there with the next create.
    sp("mark", "v1", "good", cwd=site, check=True)
    create(site, "v4")
    marks = {c["label"]: c["marks"]["health"] for c in sp_json("list", cwd=reader)}
    assert marks == {"v4": None, "v3": None, "v2": None, "v1": "good"}


def test_a_busy_mirror_does_not_fail_the_create_and_the_next_catches_up(tmp_path: Path) -> None:
    site = mirrored_site(tmp_path)
    create(site, "v1")
    mirror = tmp_path / "mirror"
    fd = os.open(mirror / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another writer holds the mirror
        doc, err = create(site, "v2")
        assert "warning: mirror not updated" in err and "locked" in err
        assert "the next create copies what it lacks" in err
        assert doc["mirror"] == {"error": doc["mirror"]["error"]}  # type: ignore[index]
    finally:
        os.close(fd)
    assert mirror_labels(tmp_path, mirror) == ["v1"]
    assert [c["label"] for c in sp_json("list", cwd=site)] == ["v2", "v1"]  # safe locally
    doc, err = create(site, "v3")
    assert err == ""
    copied = [c["label"] for c in doc["mirror"]["checkpoints"]]  # type: ignore[index]
    assert copied == ["v2", "v3"]  # v2, missed, goes with v3
    assert mirror_labels(tmp_path, mirror) == ["v3", "v2", "v1"]


def test_an_unusable_mirror_path_is_a_warning_then_caught_up(tmp_path: Path) -> None:
    site = mirrored_site(tmp_path)
    mirror = tmp_path / "mirror"
    write(mirror / "not-a-repository.txt", "someone else's folder\n")
    _, err = create(site, "v1")
    assert len(err.strip().splitlines()) == 1 and "warning: mirror not updated" in err
    assert "neither an empty folder nor a safepoint repository" in err
    assert (mirror / "not-a-repository.txt").exists()  # left alone
    (mirror / "not-a-repository.txt").unlink()
    create(site, "v2")
    assert mirror_labels(tmp_path, mirror) == ["v2", "v1"]


def test_a_rollback_safety_checkpoint_goes_with_the_next_create(tmp_path: Path) -> None:
    site = mirrored_site(tmp_path)
    create(site, "v1")
    write(site / "app.py", "broken\n")
    sp("rollback", "v1", "--yes", "--no-health", cwd=site, check=True)
    mirror = tmp_path / "mirror"
    assert mirror_labels(tmp_path, mirror) == ["v1"]  # the rollback did not wait for it
    doc, _ = create(site, "v2")
    kinds = {c["label"] for c in doc["mirror"]["checkpoints"]}  # type: ignore[index]
    assert kinds == {"v2", "safety: before rollback to v1"}


def test_a_mirror_url_this_build_cannot_open_is_a_warning(tmp_path: Path) -> None:
    site = mirrored_site(tmp_path, mirror="gs://bucket/prefix")
    _, err = create(site, "v1")
    assert "gs://bucket/prefix" in err and "warning: mirror not updated" in err
