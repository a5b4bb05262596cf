"""The path validator that import relies on, and that the restore side can reuse."""

from __future__ import annotations

import pytest

from safepoint.archive.paths import (
    UnsafePathError,
    display,
    link_problem,
    member_path,
    path_problem,
    validate_path,
)


@pytest.mark.parametrize("path", ["a", "a/b.txt", "caf\udce9/x", ".hidden/..x", "a/...", "-x"])
def test_safe_paths(path: str) -> None:
    assert path_problem(path) is None and validate_path(path) == path


@pytest.mark.parametrize(
    "path", ["", "/etc/passwd", "..", "../x", "a/../b", "a/..", "a//b", "./a", "a/.", "a/", "a\0b"]
)
def test_unsafe_paths(path: str) -> None:
    assert path_problem(path) is not None
    with pytest.raises(UnsafePathError):
        validate_path(path)


def test_member_names_are_made_canonical() -> None:
    assert member_path("./a/b/") == "a/b"
    assert member_path("././a//./b") == "a/b"
    assert member_path("./") == "" and member_path(".") == ""
    for bad in ("/a", "../a", "a/../../b", "a\0"):
        with pytest.raises(UnsafePathError):
            member_path(bad)


@pytest.mark.parametrize(
    ("path", "target", "ok"),
    [
        ("link", "eventsite/settings.py", True),
        ("static/css", "../assets/css", True),
        ("a/b/c", "../../x", True),
        ("a/b/c", "../../../x", False),
        ("link", "../shared", False),
        ("link", "/etc", False),
        ("link", "a/../..", False),
        ("a/link", "x/../y", False),
        ("link", "", False),
        ("link", ".", True),
    ],
)
def test_link_targets(path: str, target: str, ok: bool) -> None:
    assert (link_problem(path, target) is None) == ok


def test_display_keeps_a_message_on_one_line() -> None:
    assert display("a\nb") == "'a\\x0ab'"
    assert display("caf\udce9") == "'caf\\xe9'"
    assert display("it's") == "'it\\'s'"
