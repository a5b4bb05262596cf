"""Tree comparison and rollback planning on crafted entries, without a subprocess: ``pair_up``
(the merge of two trees in tree order), ``compare`` (what ``status`` and ``diff`` report) and
``plan_rollback`` (what applying does, in which order, and what it refuses)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from safepoint.errors import OperationalError
from safepoint.model.entry import DIR, FILE, SYMLINK, Entry, order_key
from safepoint.restore.plan import compare, pair_up, plan_rollback


def f(path: str, content: str = "a", *, mode: int = 0o644, mtime: int = 1, uid: int = 0) -> Entry:
    """A file whose blob is named after its content (the plan never reads blobs)."""
    blob = content.encode().hex().ljust(64, "0")
    return Entry(path, FILE, mode, uid, 0, len(content), mtime, None, blob)


def d(path: str, *, mode: int = 0o755, mtime: int = 1) -> Entry:
    return Entry(path, DIR, mode, 0, 0, 0, mtime)


def link(path: str, target: str, *, mtime: int = 1) -> Entry:
    return Entry(path, SYMLINK, 0o777, 0, 0, len(target), mtime, target)


def tree(*entries: Entry) -> list[Entry]:
    """Entries in tree order, as scans and manifests hand them over."""
    return sorted(entries, key=lambda e: order_key(e.path))


def paths(entries: list[Entry]) -> list[str]:
    return [e.path for e in entries]


# -- pair_up ------------------------------------------------------------------------------------


def test_pair_up_meets_equal_paths_and_leaves_the_rest_alone() -> None:
    a = tree(d("app"), f("app/a.py"), f("app/b.py"), f("z"))
    b = tree(d("app"), f("app/b.py"), f("app/c.py"), f("m"))
    got = [(x.path if x else None, y.path if y else None) for x, y in pair_up(a, b)]
    assert got == [  # tree order: a directory's entries, then its subdirectories' entries
        ("app", "app"),
        (None, "m"),
        ("z", None),
        ("app/a.py", None),
        ("app/b.py", "app/b.py"),
        (None, "app/c.py"),
    ]


def test_pair_up_follows_tree_order_not_string_order() -> None:
    """As strings 'a/x' < 'a0' ('/' sorts before '0'); in tree order 'a0' comes first. A merge
    that compared strings would leave 'a/x' unpaired on both sides."""
    a = tree(d("a"), f("a/x"), f("a0"))
    b = tree(d("a"), f("a/x"))
    assert paths(a) == ["a", "a0", "a/x"]
    got = [(x.path if x else None, y.path if y else None) for x, y in pair_up(a, b)]
    assert got == [("a", "a"), ("a0", None), ("a/x", "a/x")]


@pytest.mark.parametrize("seed", range(20))
def test_pair_up_matches_a_dictionary_join_on_random_trees(seed: int) -> None:
    rng = random.Random(seed)
    names = ["a", "a.b", "a-b", "b", "x", "ä", "a b"]

    def random_tree() -> list[Entry]:
        entries: dict[str, Entry] = {}
        for _ in range(rng.randrange(0, 40)):
            parts = [rng.choice(names) for _ in range(rng.randrange(1, 4))]
            for depth in range(1, len(parts)):
                entries.setdefault("/".join(parts[:depth]), d("/".join(parts[:depth])))
            path = "/".join(parts)
            if entries.get(path, f(path)).kind == FILE:  # a directory stays one
                entries[path] = f(path, rng.choice("xyz"))
        return tree(*entries.values())

    a, b = random_tree(), random_tree()
    in_a, in_b = {e.path: e for e in a}, {e.path: e for e in b}
    got = list(pair_up(a, b))
    assert [(x, y) for x, y in got] == [
        (in_a.get(p), in_b.get(p)) for p in sorted(in_a.keys() | in_b.keys(), key=order_key)
    ]


def test_pair_up_of_empty_trees() -> None:
    one = tree(d("a"), f("a/b"))
    assert list(pair_up([], [])) == []
    assert list(pair_up(one, [])) == [(e, None) for e in one]
    assert list(pair_up([], one)) == [(None, e) for e in one]


# -- compare ------------------------------------------------------------------------------------


def test_compare_sorts_every_difference_into_its_kind() -> None:
    a = tree(
        d("app", mtime=1),
        f("app/same.py"),
        f("app/edited.py", "old"),
        f("app/gone.py"),
        f("app/chmod.sh", mode=0o644),
        f("app/touched.py", mtime=1),
        link("app/link", "same.py"),
        f("app/was_file"),
        link("app/relinked", "a"),
    )
    b = tree(
        d("app", mtime=99),  # a directory's mtime alone is no change
        f("app/same.py"),
        f("app/edited.py", "new"),
        f("app/chmod.sh", mode=0o755),
        f("app/touched.py", mtime=2),
        link("app/link", "same.py"),
        d("app/was_file"),
        link("app/relinked", "b"),
        f("app/new.py"),
    )
    ch = compare(a, b, owner=False)
    assert paths(ch.added) == ["app/new.py"]
    assert [(x.path, y.path) for x, y in ch.modified] == [
        ("app/edited.py", "app/edited.py"),
        ("app/relinked", "app/relinked"),
        ("app/was_file", "app/was_file"),
    ]
    assert paths(ch.deleted) == ["app/gone.py"]
    assert [y.path for _, y in ch.mode_changed] == ["app/chmod.sh"]
    assert [y.path for _, y in ch.touched] == ["app/touched.py"]
    assert ch.unchanged == 3  # app, same.py, link
    assert not ch.empty
    assert ch.to_json() == {
        "added": ["app/new.py"],
        "modified": ["app/edited.py", "app/relinked", "app/was_file"],
        "deleted": ["app/gone.py"],
        "mode_changed": ["app/chmod.sh"],
        "touched": ["app/touched.py"],
    }


def test_compare_counts_the_owner_only_when_asked() -> None:
    a, b = [f("x", uid=0)], [f("x", uid=33)]
    assert compare(a, b, owner=False).unchanged == 1
    assert [y.uid for _, y in compare(a, b, owner=True).mode_changed] == [33]


def test_a_file_of_another_size_under_the_same_blob_is_modified() -> None:
    """Same hash, other size: a damaged record must not read as unchanged."""
    a = f("x", "abc")
    b = a._replace(size=4)
    assert [y.size for _, y in compare([a], [b], owner=False).modified] == [4]


def test_only_touched_files_leave_the_comparison_empty() -> None:
    ch = compare([f("x", mtime=1)], [f("x", mtime=2)], owner=True)
    assert ch.empty and len(ch.touched) == 1 and ch.unchanged == 0


# -- plan_rollback ------------------------------------------------------------------------------


def test_the_plan_removes_deepest_first_and_creates_parents_first(tmp_path: Path) -> None:
    current = tree(d("old"), d("old/deep"), f("old/deep/x.py"), f("old/y.py"), f("keep.py"))
    target = tree(d("new"), d("new/deep"), f("new/deep/x.py"), f("new/y.py"), f("keep.py"))
    plan = plan_rollback(tmp_path, current, target, owner=False)
    assert paths(plan.remove) == ["old/y.py", "old/deep/x.py", "old/deep", "old"]
    assert paths(plan.mkdir) == ["new", "new/deep"]
    assert paths(plan.write) == ["new/deep/x.py", "new/y.py"]
    assert plan.link == plan.restamp == [] and plan.keep_dirs == []
    assert plan.unchanged == 1 and plan.write_bytes == 2
    assert paths(plan.replaced) == ["old/y.py", "old/deep/x.py"]  # what an undo needs back


def test_the_plan_rewrites_relinks_and_restamps(tmp_path: Path) -> None:
    current = tree(
        d("app", mode=0o755),
        f("app/edited.py", "old"),
        f("app/run.sh", mode=0o644),
        f("app/touched.py", mtime=5),
        link("app/current", "v1"),
        f("app/link_now"),
    )
    target = tree(
        d("app", mode=0o700),
        f("app/edited.py", "new"),
        f("app/run.sh", mode=0o755),
        f("app/touched.py", mtime=6),
        link("app/current", "v2"),
        link("app/link_now", "edited.py"),
    )
    plan = plan_rollback(tmp_path, current, target, owner=False, shared=10)
    assert paths(plan.remove) == ["app/link_now"]  # another type: removed, then created
    assert plan.mkdir == []
    assert paths(plan.write) == ["app/edited.py"]
    assert paths(plan.link) == ["app/link_now", "app/current"]
    assert paths(plan.restamp) == ["app/run.sh", "app/touched.py"]  # directories: dir_meta
    assert paths(plan.dir_meta) == ["app"]
    assert [e.mode for e in plan.dir_meta if e.path == "app"] == [0o700]
    assert plan.unchanged == 10
    assert paths(plan.replaced) == ["app/edited.py", "app/link_now"]


def test_directory_times_are_restored_deepest_first_after_their_children(tmp_path: Path) -> None:
    current = tree(d("a", mtime=1), d("a/b", mtime=1), f("a/b/x", "1"), d("c", mtime=1), f("c/y"))
    target = tree(d("a", mtime=7), d("a/b", mtime=8), f("a/b/x", "2"), d("c", mtime=9), f("c/y"))
    plan = plan_rollback(tmp_path, current, target, owner=False)
    # a/b's content changed (x rewritten), a's did not, but only a/b is a parent of a change.
    assert paths(plan.dir_meta) == ["a/b"]
    assert plan.dir_meta[0].mtime_ns == 8


def test_unchanged_directories_left_out_of_both_sides_are_looked_up(tmp_path: Path) -> None:
    """A delta plan lists only what differs; the parent of a change is found by ``same_dir``."""
    asked: list[str] = []

    def same_dir(path: str) -> Entry | None:
        asked.append(path)
        return d(path, mtime=42) if path == "site/app" else None

    plan = plan_rollback(
        tmp_path,
        [f("site/app/x.py", "1")],
        [f("site/app/x.py", "2")],
        owner=False,
        shared=3,
        same_dir=same_dir,
    )
    assert asked == ["site/app"]
    assert [(e.path, e.mtime_ns) for e in plan.dir_meta] == [("site/app", 42)]
    assert plan.unchanged == 3


def test_identical_trees_plan_nothing(tmp_path: Path) -> None:
    both = tree(d("a"), f("a/x"), link("l", "a"))
    plan = plan_rollback(tmp_path, both, list(both), owner=True)
    assert plan.empty and plan.unchanged == 3 and plan.dir_meta == []


def test_a_removed_directory_that_holds_untracked_files_is_kept(tmp_path: Path) -> None:
    """Excluded files are never deleted: the directory stays (keep_dirs), and so does its
    parent, which then still holds it."""
    (tmp_path / "old" / "cache").mkdir(parents=True)
    (tmp_path / "old" / "cache" / "excluded.log").write_text("keep me\n")
    (tmp_path / "old" / "tracked.py").write_text("x\n")
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "tracked.py").write_text("x\n")
    current = tree(d("old"), d("old/cache"), f("old/tracked.py"), d("gone"), f("gone/tracked.py"))
    plan = plan_rollback(tmp_path, current, [], owner=False)
    assert plan.keep_dirs == ["old", "old/cache"]
    assert "gone" in paths(plan.remove) and "gone" not in plan.keep_dirs
    assert paths(plan.remove)[-1] == "gone"  # still removed deepest first: the applier skips


@pytest.mark.parametrize(("new", "kind"), [(f("app", "x"), "file"), (link("app", "/x"), "symlink")])
def test_a_directory_with_untracked_files_cannot_become_something_else(
    tmp_path: Path, new: Entry, kind: str
) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "secret.env").write_text("KEY=1\n")  # excluded by the rules
    (tmp_path / "app" / "views.py").write_text("x\n")
    current = tree(d("app"), f("app/views.py"))
    with pytest.raises(OperationalError) as info:
        plan_rollback(tmp_path, current, [new], owner=False)
    assert str(info.value) == (
        f"cannot replace directory app with a {kind}: it holds files that safepoint does not "
        "track (excluded); move them away first"
    )
    assert (tmp_path / "app" / "secret.env").read_text() == "KEY=1\n"  # planning changed nothing


def test_a_directory_with_only_tracked_files_becomes_a_file(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "views.py").write_text("x\n")
    current = tree(d("app"), f("app/views.py"))
    plan = plan_rollback(tmp_path, current, [f("app", "now a file")], owner=False)
    assert paths(plan.remove) == ["app/views.py", "app"]
    assert paths(plan.write) == ["app"] and plan.mkdir == [] and plan.keep_dirs == []
