"""The labels a guarded change gives its checkpoints: readable, one line, and always labels
that ``create`` accepts (ops/labels.py), whatever the command holds."""

from __future__ import annotations

import pytest

from safepoint.ops.change import change_labels
from safepoint.ops.labels import MAX_LABEL, LabelError, check_label


def test_a_long_multiline_command_gives_one_short_line() -> None:
    command = "git pull &&\n\tvenv/bin/pip install -r requirements.txt \x1b[31m&& " + "x" * 300
    before, after = change_labels(None, command)
    assert before.startswith("before: git pull && venv/bin/pip install")
    assert after == "after: " + before.removeprefix("before: ")
    assert "\n" not in before and "\x1b" not in before and before.endswith("…")
    assert len(before) <= 80
    check_label(before)
    check_label(after)


def test_a_given_label_is_checked_and_its_after_label_fits() -> None:
    label = "r" * MAX_LABEL
    before, after = change_labels(label, "ignored")
    assert before == label and len(after) == MAX_LABEL and after.startswith("after: r")
    check_label(after)
    with pytest.raises(LabelError):
        change_labels("good", "x")


def test_an_empty_command_still_gives_a_label() -> None:
    assert change_labels(None, " \n ") == ("before: change", "after: change")
