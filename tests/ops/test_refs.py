"""Reference resolution, on crafted records (no repository needed): the order is full id,
``latest``, ``good``, unique id prefix, label; an id always wins over a label."""

from __future__ import annotations

import pytest

from safepoint.errors import BadReferenceError
from safepoint.ops.refs import known_good, resolve
from safepoint.store.records import BAD, GOOD, Checkpoint, Marks


def cp(
    cid: str,
    day: int,
    *,
    label: str | None = None,
    kind: str = "manual",
    health: str | None = None,
) -> Checkpoint:
    return Checkpoint(
        id=cid.ljust(64, "0"),
        created=f"2026-11-{day:02}T10:00:00.000000+00:00",
        kind=kind,
        manifest="0" * 64,
        files=1,
        bytes=1,
        new_bytes=1,
        label=label,
        marks=Marks(health=health),
    )


def newest_first(*checkpoints: Checkpoint) -> list[Checkpoint]:
    return sorted(checkpoints, key=lambda c: c.created, reverse=True)


A = cp("abcd1234", 1, label="v1", health=GOOD)
B = cp("abcd9876", 2, label="v2")  # shares "abcd" with A: that prefix is ambiguous
C = cp("5eed", 3, label="v3", health=GOOD)
SAFETY = cp("fa11", 4, label="safety: before rollback to v1", kind="safety")
ALL = newest_first(A, B, C, SAFETY)


def test_full_id_and_unique_prefix() -> None:
    assert resolve(A.id, ALL) is A
    assert resolve(A.id.upper(), ALL) is A
    assert resolve("abcd1", ALL) is A
    assert resolve("abcd9", ALL) is B
    assert resolve("5eed", ALL) is C


def test_ambiguous_prefix_is_an_error_naming_the_count() -> None:
    with pytest.raises(BadReferenceError, match=r"'abcd' is ambiguous \(2 checkpoints"):
        resolve("abcd", ALL)


def test_prefix_needs_four_characters() -> None:
    with pytest.raises(BadReferenceError, match="no checkpoint matches 'abc'"):
        resolve("abc", ALL)


def test_latest_is_the_newest_that_is_not_a_safety_checkpoint() -> None:
    assert ALL[0] is SAFETY
    assert resolve("latest", ALL) is C


def test_latest_with_only_safety_checkpoints_says_how_to_name_one() -> None:
    with pytest.raises(BadReferenceError, match="by its id"):
        resolve("latest", [SAFETY])


def test_good_is_the_newest_known_good_and_a_bad_mark_replaces_good() -> None:
    assert resolve("good", ALL) is C
    c_bad = cp("5eed", 3, label="v3", health=BAD)
    assert resolve("good", newest_first(A, B, c_bad, SAFETY)) is A
    assert list(known_good(newest_first(A, B, c_bad))) == [A]
    with pytest.raises(BadReferenceError, match="mark REF good"):
        resolve("good", [B])


def test_label_is_the_newest_with_it() -> None:
    older = cp("0001", 1, label="same")
    newer = cp("0002", 2, label="same")
    assert resolve("same", newest_first(older, newer)) is newer


def test_a_label_equal_to_another_checkpoints_id_does_not_hijack_it() -> None:
    # The label holder is the newest: the old resolution (id or label, newest first) took it.
    hijacker = cp("beef", 9, label=A.id)
    everything = newest_first(A, B, C, hijacker)
    assert resolve(A.id, everything) is A
    prefix_hijacker = cp("beef2", 10, label="abcd1234")
    assert resolve("abcd1234", newest_first(*everything, prefix_hijacker)) is A


def test_a_label_that_is_an_ambiguous_prefix_is_refused_not_guessed() -> None:
    labelled = cp("0003", 5, label="abcd")
    with pytest.raises(BadReferenceError, match="ambiguous"):
        resolve("abcd", newest_first(A, B, labelled))


def test_labels_that_are_not_ids_still_resolve() -> None:
    # hexadecimal-looking but matching no id: the label is found
    assert resolve("cafe", newest_first(A, cp("0004", 6, label="cafe"))).id.startswith("0004")
    assert resolve("v1", ALL) is A


def test_reserved_words_win_over_labels() -> None:
    trap = cp("0005", 5, label="latest")  # an imported record may carry any label
    newest = cp("0007", 7)
    assert resolve("latest", newest_first(newest, trap)) is newest
    assert resolve("good", newest_first(A, cp("0006", 21, label="good"))) is A


def test_no_checkpoints() -> None:
    with pytest.raises(BadReferenceError, match="no checkpoints yet"):
        resolve("latest", [])


def test_the_python_api_marks_like_the_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import safepoint
    from tests.helpers import sp, write

    root = tmp_path / "site"
    write(root / "app.py", "v1\n")
    sp("init", cwd=root, check=True)
    with safepoint.open_site(root) as site:
        made = safepoint.create_checkpoint(site, label="v1", pin=True).checkpoint
        marked = safepoint.set_mark(site, "v1", "bad", reason="slow")
        assert marked.id == made.id and marked.marks.health == BAD
        assert marked.marks.health_by == "mark" and marked.marks.pinned
        assert safepoint.find_checkpoint(site, "v1").marks == marked.marks
        with pytest.raises(safepoint.SafepointError, match="one of good, bad, clear"):
            safepoint.set_mark(site, "v1", "fine")
        cleared = safepoint.set_mark(site, "v1", "clear")
        assert cleared.marks == Marks(pinned=True)
