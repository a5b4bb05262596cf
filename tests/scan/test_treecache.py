"""The tree cache: unchanged directories are taken as they were, and nothing it vouches for
is ever missing from the repository or stale."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import EXCLUDED, package_tree, snapshot, sp, sp_json, write


def _files(site: Path, ref: str = "latest") -> dict[str, dict[str, object]]:
    return {e["path"]: e for e in sp_json("show", ref, "--files", cwd=site)["entries"]}


def test_only_the_edited_file_is_read_again(site: Path) -> None:
    sp("create", cwd=site, check=True)
    write(site / "eventsite" / "urls.py", "urlpatterns = ['edited']\n")
    second = sp_json("create", cwd=site)
    assert second["hashed"] == 1
    assert (
        _files(site)["eventsite/urls.py"]["sha256"]
        == hashlib.sha256(b"urlpatterns = ['edited']\n").hexdigest()
    )


def test_a_file_added_deep_down_is_found(site: Path) -> None:
    sp("create", cwd=site, check=True)
    write(site / "templates" / "a" / "b" / "c.html", "deep\n")
    second = sp_json("create", cwd=site)
    assert second["hashed"] == 1
    assert "templates/a/b/c.html" in _files(site)


def test_status_hashes_do_not_let_create_skip_storing(site: Path, tmp_path: Path) -> None:
    """status reads changed files without storing them; the cache it leaves must not make the
    next checkpoint believe they are stored."""
    sp("create", cwd=site, check=True)
    write(site / "eventsite" / "urls.py", "urlpatterns = ['seen by status']\n")
    write(site / "templates" / "new.html", "new\n")
    assert "urls.py" in sp("status", cwd=site, check=True).stdout
    sp("create", "--label", "after-status", cwd=site, check=True)
    sp("verify", cwd=site, check=True)
    out = tmp_path / "out"
    sp("restore", "after-status", "--to", out, cwd=site, check=True)
    assert (out / "eventsite" / "urls.py").read_text() == "urlpatterns = ['seen by status']\n"
    assert (out / "templates" / "new.html").read_text() == "new\n"


def test_changed_rules_rebuild_the_directories_but_reuse_hashes(site: Path) -> None:
    sp("create", cwd=site, check=True)
    assert "templates/base.html" in _files(site)
    toml = site / "safepoint.toml"
    toml.write_text(toml.read_text().replace("exclude = []", 'exclude = ["templates/"]'))
    second = sp_json("create", cwd=site)
    paths = _files(site)
    assert not any(p.startswith("templates") for p in paths)
    assert "eventsite/urls.py" in paths
    assert second["hashed"] <= 1  # safepoint.toml itself is excluded; nothing else is read


def test_a_damaged_cache_is_ignored(site: Path, tmp_path: Path) -> None:
    first = sp_json("create", cwd=site)
    cache = site / ".safepoint" / "treecache"
    data = bytearray(cache.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cache.write_bytes(bytes(data))
    second = sp_json("create", cwd=site)
    assert second["hashed"] > 1  # read again, not trusted
    assert second["manifest"] == first["manifest"]
    cache.write_bytes(b"")
    assert sp_json("create", cwd=site)["manifest"] == first["manifest"]
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])  # cut short
    assert sp_json("create", cwd=site)["hashed"] > 1


def test_pure_python_listing_gives_the_same_checkpoint(site: Path, tmp_path: Path) -> None:
    """The C listing and its pure-Python twin must agree on everything a checkpoint records."""
    first = sp_json("create", cwd=site)
    (site / ".safepoint" / "treecache").unlink()
    pure = {"SAFEPOINT_PURE_LISTING": "1"}
    proc = sp("create", "--json", cwd=site, env=pure, check=True)
    assert json.loads(proc.stdout)["manifest"] == first["manifest"]
    write(site / "eventsite" / "urls.py", "urlpatterns = ['pure']\n")
    sp("create", "--label", "pure", cwd=site, env=pure, check=True)
    out = tmp_path / "out"
    sp("restore", "pure", "--to", out, cwd=site, env=pure, check=True)
    assert snapshot(out) == snapshot(site, skip=(*EXCLUDED, ".safepoint", "safepoint.toml"))


@pytest.mark.slow
def test_rollback_leaves_a_cache_that_matches_the_tree(site: Path) -> None:
    sp("create", "--label", "base", cwd=site, check=True)
    urls = site / "eventsite" / "urls.py"
    write(urls, "urlpatterns = ['broken']\n")
    os.remove(site / "templates" / "base.html")
    shutil.rmtree(site / "empty_dir")  # directories the rollback must make again
    write(site / "newapp" / "deep" / "views.py", "new\n")  # and ones it must remove
    sp("create", cwd=site, check=True)
    sp("rollback", "base", "--yes", "--no-health", cwd=site, check=True)
    again = sp_json("create", cwd=site)
    assert again["hashed"] == 0
    assert again["manifest"] == _manifest(site, "base")
    # an edit right after the rollback is seen
    write(urls, "urlpatterns = ['after']\n")
    assert sp_json("create", cwd=site)["hashed"] == 1


def _manifest(site: Path, ref: str) -> str:
    return str(sp_json("show", ref, cwd=site)["manifest"])


def test_diff_of_a_large_tree_names_exactly_what_changed(tmp_path: Path) -> None:
    """diff (checkpoint against the tree, and two checkpoints) compares only the manifest
    chunks that differ; what it reports must still be everything that changed."""
    root = package_tree(tmp_path / "site", 30, 40)
    sp("init", cwd=root, check=True)
    sp("create", "--label", "first", cwd=root, check=True)
    write(root / "pkg03" / "m007.py", "# edited\n")
    write(root / "pkg17" / "new.py", "# added\n")
    (root / "pkg29" / "m039.py").unlink()
    os.chmod(root / "pkg11" / "m000.py", 0o600)
    sp("create", "--label", "second", cwd=root, check=True)
    against_tree = sp_json("diff", "first", cwd=root)
    for result in (against_tree, sp_json("diff", "first", "second", cwd=root)):
        assert result["modified"] == ["pkg03/m007.py"]
        assert result["added"] == ["pkg17/new.py"]
        assert result["deleted"] == ["pkg29/m039.py"]
        assert result["mode_changed"] == ["pkg11/m000.py"]
    assert sp_json("diff", "second", "first", cwd=root)["added"] == ["pkg29/m039.py"]


def test_listing_threads_give_the_same_listings_cold_or_warm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prefetch picks its thread count by timing; either way it must list every directory."""
    from safepoint.scan import walk

    dirs = [f"d{i:03}" for i in range(300)]
    for d in dirs:
        write(tmp_path / d / "f.txt", d)
    expected = {d: walk.list_dir(str(tmp_path / d)) for d in dirs}
    for threshold in (0, 10**12):  # every machine "cold", every machine "warm"
        monkeypatch.setattr(walk, "COLD_NS_PER_DIR", threshold)
        assert walk.prefetch(str(tmp_path), [*dirs, "missing"]) == expected


def test_a_cache_that_cannot_be_written_does_not_fail_the_checkpoint(site: Path) -> None:
    first = sp_json("create", cwd=site)
    cache = site / ".safepoint" / "treecache"
    cache.unlink()
    (cache / "in-the-way").mkdir(parents=True)  # rename over a non-empty directory fails
    second = sp_json("create", cwd=site)
    assert second["manifest"] == first["manifest"]
    assert second["hashed"] > 1  # no cache to read, none written: correct, only slower
    assert sp_json("status", cwd=site)["clean"]


def test_the_header_names_the_directories_and_a_header_without_them_is_no_cache(
    tmp_path: Path,
) -> None:
    """The directories come first, so that their listing starts while the blocks load. A
    header without them was never released: such a file reads as no cache (files are read
    again), never as a cache without its head start."""
    from safepoint.scan.treecache import CACHE_VERSION, Block, load_cache, save_cache

    blocks = [Block(d, b"", (), 0, (), 0, 0, False, ()) for d in ["", "a", "a/b", "c"]]
    path = tmp_path / "treecache"
    save_cache(path, iter(blocks), taken_ns=7, rules="r")
    seen: list[list[str]] = []
    cache = load_cache(path, on_dirs=seen.append)
    assert seen == [["", "a", "a/b", "c"]]
    assert list(cache.blocks.values()) == blocks
    assert (cache.taken_ns, cache.rules) == (7, "r")

    import marshal
    import struct

    import zstandard

    records = [{"version": CACHE_VERSION, "taken_ns": 7, "rules": "r"}, [tuple(b) for b in blocks]]
    raw = b"".join(struct.pack("<I", len(m)) + m for m in map(marshal.dumps, records))
    path.write_bytes(zstandard.ZstdCompressor().compress(raw + struct.pack("<I", 0)))
    seen.clear()
    assert load_cache(path, on_dirs=seen.append).blocks == {}
    assert seen == []


@pytest.mark.slow
def test_rules_verdicts_carried_over_still_follow_the_tree(site: Path) -> None:
    """A rebuilt directory takes each unchanged child's verdict from the cache; a child that
    is new, or a directory that became (or stopped being) a virtual environment, is judged
    again."""
    write(site / "tools" / "env" / "lib.py", "x = 1\n")
    write(site / "tools" / "cache.pyc", b"\0compiled")
    write(site / "tools" / "run.py", "print(1)\n")
    sp("create", cwd=site, check=True)
    assert {"tools/env/lib.py", "tools/run.py"} <= set(_files(site))
    assert "tools/cache.pyc" not in _files(site)

    write(site / "tools" / "env" / "pyvenv.cfg", "home = /usr/bin\n")
    write(site / "tools" / "run.py", "print(2)\n")
    write(site / "tools" / "more.pyc", b"\0compiled")
    sp("create", cwd=site, check=True)
    files = _files(site)
    assert "tools/run.py" in files
    assert not any(p.startswith("tools/env") for p in files)
    assert "tools/cache.pyc" not in files and "tools/more.pyc" not in files

    (site / "tools" / "env" / "pyvenv.cfg").unlink()
    sp("create", cwd=site, check=True)
    assert {"tools/env", "tools/env/lib.py"} <= set(_files(site))


def test_a_cold_walk_without_cache_finds_the_same_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a cache, a walk that finds the disk cold lists the rest of the tree a level at
    a time, and tells a virtual environment by its listing; warm, it lists one by one and
    asks for pyvenv.cfg. Both must keep and drop the same paths."""
    from safepoint.scan import walk
    from safepoint.scan.rules import Rules

    for i in range(30):
        write(tmp_path / f"app{i:02}" / "models.py", f"x = {i}\n")
        write(tmp_path / f"app{i:02}" / "sub" / "deep" / "t.html", "<p>\n")
    write(tmp_path / "env" / "pyvenv.cfg", "home = /usr/bin\n")
    write(tmp_path / "env" / "lib" / "site.py", "")
    write(tmp_path / "tools" / "kept-env" / "pyvenv.cfg", "home = /usr/bin\n")
    write(tmp_path / "tools" / "other" / "a.py", "")
    write(tmp_path / "tools" / "pyvenv.cfg.txt", "not a marker\n")

    def paths() -> list[str]:
        rules = Rules(["!tools/kept-env/"])
        items = list(walk.walk(str(tmp_path), rules))
        return [e.path for item in items for e in item.entries]  # type: ignore[union-attr]

    warm = paths()
    assert "env" not in warm and "tools/kept-env/pyvenv.cfg" in warm and "tools" in warm
    monkeypatch.setattr(walk, "COLD_NS_PER_DIR", 0)
    monkeypatch.setattr(walk, "PROBE_ALONE", 1)
    calls: list[int] = []
    real = walk._list_many
    monkeypatch.setattr(
        walk,
        "_list_many",
        lambda *a: calls.append(len(a[1])) or real(*a),  # type: ignore[func-returns-value]
    )
    assert paths() == warm
    assert calls and max(calls) >= 30  # the apps were listed together


def test_after_a_rollback_the_cache_still_tells_a_virtual_environment(site: Path) -> None:
    """A rollback tells the cache that the directories it restored are kept by the rules; it
    must not vouch for one that holds pyvenv.cfg (left there, untracked) since."""
    write(site / "tools" / "env" / "lib.py", "x = 1\n")
    sp("create", "--label", "base", cwd=site, check=True)
    write(site / "tools" / "env" / "lib.py", "x = 2\n")
    write(site / "tools" / "env" / "pyvenv.cfg", "home = /usr/bin\n")
    write(site / "tools" / "run.py", "print(1)\n")
    sp("rollback", "base", "--yes", "--no-health", cwd=site, check=True)
    cached = sp_json("create", cwd=site)["manifest"]
    (site / ".safepoint" / "treecache").unlink()
    fresh = sp_json("create", cwd=site)["manifest"]
    assert cached == fresh
    assert not any(p.startswith("tools/env") for p in _files(site))
