"""Create -> restore through the installed command keeps every kind of entry exactly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.helpers import EXCLUDED, snapshot, sp, sp_json, write


def test_restore_equals_the_checkpointed_tree(site: Path, tmp_path: Path) -> None:
    created = sp_json("create", "--label", "v1", "--note", "first", cwd=site)
    assert created["label"] == "v1" and created["kind"] == "manual"
    target = tmp_path / "out"
    sp("restore", "v1", "--to", target, cwd=site, check=True)
    assert snapshot(target) == snapshot(site, skip=EXCLUDED)


def test_round_trip_details(site: Path, tmp_path: Path) -> None:
    sp("create", cwd=site, check=True)
    out = tmp_path / "out"
    sp("restore", "latest", "--to", out, cwd=site, check=True)
    assert stat.S_IMODE(os.stat(out / "eventsite" / "settings.py").st_mode) == 0o600
    assert os.access(out / "manage.py", os.X_OK)
    assert os.readlink(out / "dangling_link") == "does/not/exist"
    assert os.path.islink(out / "dir_link") and os.readlink(out / "dir_link") == "templates"
    assert (out / "empty_dir" / "nested_empty").is_dir()
    assert stat.S_IMODE(os.stat(out / "templates").st_mode) == 0o750
    with open(os.fsencode(out) + b"/caf\xe9/men\xfc.txt", "rb") as f:
        assert f.read() == b"latin-1 named file\n"
    assert (out / "static" / "big.bin").read_bytes() == (site / "static" / "big.bin").read_bytes()
    assert os.stat(out / "run.sh").st_mtime_ns == os.stat(site / "run.sh").st_mtime_ns


def test_ownership_is_kept_when_root(site: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        return  # ownership is only restored by root; nothing to check otherwise
    os.chown(site / "eventsite" / "urls.py", 1234, 5678)
    os.lchown(site / "settings_link", 4321, 8765)
    sp("create", cwd=site, check=True)
    out = tmp_path / "out"
    sp("restore", "latest", "--to", out, cwd=site, check=True)
    st = os.stat(out / "eventsite" / "urls.py")
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    st = os.lstat(out / "settings_link")
    assert (st.st_uid, st.st_gid) == (4321, 8765)


def test_excluded_paths_are_not_in_the_checkpoint(site: Path) -> None:
    sp("create", cwd=site, check=True)
    paths = {e["path"] for e in sp_json("show", "latest", "--files", cwd=site)["entries"]}
    for excluded in EXCLUDED:
        assert not any(p == excluded or p.startswith(excluded + "/") for p in paths), excluded
    assert "tools/keep.py" in paths and "manage.py" in paths


def test_user_rules_from_toml_and_safepointignore(site: Path) -> None:
    toml = site / "safepoint.toml"
    toml.write_text(toml.read_text().replace("exclude = []", 'exclude = ["static/", "!logs/"]'))
    write(site / ".safepointignore", "# comment\n*.sh\n!media/\n")
    sp("create", cwd=site, check=True)
    paths = {e["path"] for e in sp_json("show", "latest", "--files", cwd=site)["entries"]}
    assert not any(p.startswith("static") for p in paths)
    assert "run.sh" not in paths
    assert "logs/access.log" not in paths  # "!logs/" re-includes the folder, "*.log" still applies
    assert "logs" in paths
    assert "media/uploads/photo.jpg" in paths
    assert ".safepointignore" not in paths


def test_a_virtual_environment_can_be_reincluded_explicitly(site: Path) -> None:
    toml = site / "safepoint.toml"
    toml.write_text(toml.read_text().replace("exclude = []", 'exclude = ["!venv/"]'))
    sp("create", cwd=site, check=True)
    paths = {e["path"] for e in sp_json("show", "latest", "--files", cwd=site)["entries"]}
    assert "venv/lib/x.py" in paths
    assert not any(p.startswith("tools/env2") for p in paths)


def test_second_checkpoint_of_an_unchanged_tree_stores_almost_nothing(site: Path) -> None:
    first = sp_json("create", cwd=site)
    second = sp_json("create", cwd=site)
    assert first["new_bytes"] > 1_000_000
    assert second["new_bytes"] < 2_000  # only the manifest, itself deduplicated
    assert second["hashed"] == 0  # the stat cache spared every read
    assert second["manifest"] == first["manifest"]


def test_stat_cache_notices_a_same_size_edit_with_the_old_mtime(site: Path) -> None:
    sp("create", cwd=site, check=True)
    path = site / "eventsite" / "urls.py"
    st = path.stat()
    path.write_text("urlpatterns = [1]\n"[: st.st_size].ljust(st.st_size))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = sp_json("create", cwd=site)
    out = {e["path"]: e for e in sp_json("show", second["id"], "--files", cwd=site)["entries"]}
    assert second["hashed"] >= 1
    import hashlib

    assert out["eventsite/urls.py"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_special_files_are_skipped_with_a_warning(site: Path) -> None:
    os.mkfifo(site / "a.fifo")
    proc = sp("create", cwd=site, check=True)
    assert "a.fifo" in proc.stderr and "skipped" in proc.stderr
    paths = {e["path"] for e in sp_json("show", "latest", "--files", cwd=site)["entries"]}
    assert "a.fifo" not in paths


def test_references_and_listing(site: Path) -> None:
    a = sp_json("create", "--label", "a", cwd=site)
    write(site / "new.py", "x\n")
    b = sp_json("create", "--label", "b", "--note-file", site / "new.py", cwd=site)
    listed = sp_json("list", cwd=site)
    assert [c["id"] for c in listed] == [b["id"], a["id"]]
    assert sp_json("show", a["id"][:6], cwd=site)["id"] == a["id"]
    assert sp_json("show", "latest", cwd=site)["id"] == b["id"]
    assert sp_json("show", "a", cwd=site)["label"] == "a"
    assert sp("show", "b", "--note", cwd=site, check=True).stdout == "x\n"
    human = sp("list", cwd=site, check=True).stdout
    assert a["id"][:12] in human and "manual" in human


def test_root_from_option_environment_and_subdirectory(site: Path, tmp_path: Path) -> None:
    sp("create", "--label", "r", cwd=site, check=True)
    assert sp_json("list", "--root", site, cwd=tmp_path)[0]["label"] == "r"
    proc = sp("list", "--json", cwd=tmp_path, env={"SAFEPOINT_ROOT": str(site)})
    assert proc.returncode == 0 and '"r"' in proc.stdout
    assert sp_json("list", cwd=site / "eventsite")[0]["label"] == "r"


def test_init_detects_venv_and_django_and_is_harmless_twice(tmp_path: Path) -> None:
    root = tmp_path / "s"
    write(root / "manage.py", "")
    write(root / ".venv" / "pyvenv.cfg", "")
    first = sp_json("init", cwd=root)
    assert first["config_written"] and first["django"] and first["venvs"] == [".venv"]
    text = (root / "safepoint.toml").read_text()
    assert "manage.py" in text and "[health]" in text
    (root / "safepoint.toml").write_text(text + "\n# mine\n")
    second = sp_json("init", cwd=root)
    assert not second["config_written"]
    assert (root / "safepoint.toml").read_text().endswith("# mine\n")
    assert stat.S_IMODE(os.stat(root / ".safepoint").st_mode) == 0o700


def test_non_utf8_names_print_as_their_bytes_under_a_strict_locale(site: Path) -> None:
    import subprocess

    from tests.helpers import SAFEPOINT

    sp("create", cwd=site, check=True)
    with open(os.fsencode(site) + b"/n\xe9w.txt", "wb") as f:
        f.write(b"new")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}  # errors='strict' unless we say otherwise
    proc = subprocess.run([SAFEPOINT, "status"], cwd=site, env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert b"added     n\xe9w.txt" in proc.stdout
