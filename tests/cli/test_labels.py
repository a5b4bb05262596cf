"""Label rules (ops/labels.py), the same through the Python API and the command line: empty,
reserved, id-like, control characters and over-long labels are refused with one line (exit 2),
and no checkpoint is made."""

from __future__ import annotations

from pathlib import Path

import pytest

import safepoint
from safepoint.errors import UsageError
from tests.helpers import assert_one_line_error, sp, write

# label -> what the message says
BAD_LABELS = {
    "": "empty",
    "   ": "empty",
    "latest": "reserved",
    "good": "reserved",
    "bad": "reserved",
    "abcd": "checkpoint id",
    "2024": "checkpoint id",
    "DEADBEEF01": "checkpoint id",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855": "checkpoint id",
    "two\nlines": "control character",
    "bell\x07": "control character",
    "esc\x1b[31mred": "control character",
    "tab\there": "control character",
    "rtl\u202eevil": "control character",
    "x" * 201: "at most 200",
}
GOOD_LABELS = ["day2-stable", "abc", "v2024", "x" * 200, "café déploiement", "deadbeefg"]


@pytest.fixture(scope="module")
def small_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("labels") / "site"
    write(root / "app.py", "print('hi')\n")
    sp("init", cwd=root, check=True)
    return root


def records(site: Path) -> list[str]:
    return sorted(p.name for p in (site / ".safepoint" / "checkpoints").iterdir())


@pytest.mark.parametrize("label", BAD_LABELS, ids=[repr(k)[:30] for k in BAD_LABELS])
def test_bad_label_is_refused_by_the_python_api(small_site: Path, label: str) -> None:
    before = records(small_site)
    with safepoint.open_site(small_site) as site, pytest.raises(UsageError) as err:
        safepoint.create_checkpoint(site, label=label)
    assert BAD_LABELS[label] in str(err.value)
    assert err.value.exit_code == 2
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)
    assert records(small_site) == before


@pytest.mark.parametrize("label", BAD_LABELS, ids=[repr(k)[:30] for k in BAD_LABELS])
def test_bad_label_is_refused_by_the_command_line(small_site: Path, label: str) -> None:
    before = records(small_site)
    proc = sp("create", "--label", label, cwd=small_site)
    assert_one_line_error(proc, 2)
    assert BAD_LABELS[label] in proc.stderr
    assert "\x1b" not in proc.stderr
    assert records(small_site) == before


def test_good_labels_are_accepted(small_site: Path) -> None:
    with safepoint.open_site(small_site) as site:
        for label in GOOD_LABELS[:3]:
            assert safepoint.create_checkpoint(site, label=label).checkpoint.label == label
    for label in GOOD_LABELS[3:]:
        proc = sp("create", "--label", label, "--json", cwd=small_site)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("label", "reason"),
    [("latest", "reserved"), ("cafe01", "checkpoint id"), ("a\x1bb", "control"), ("", "empty")],
)
def test_import_checks_labels_the_same_way(
    small_site: Path, tmp_path: Path, label: str, reason: str
) -> None:
    from safepoint.ops.import_ import import_archive
    from tests.archive.conftest import make_tar, member

    archive = make_tar(tmp_path / "plain.tar.gz", [member("app.py", b"x = 1\n")])
    before = records(small_site)
    with safepoint.open_site(small_site) as site, pytest.raises(UsageError) as err:
        import_archive(site, archive, label=label)
    assert reason in str(err.value)
    proc = sp("import", archive, "--label", label, cwd=small_site)
    assert_one_line_error(proc, 2)
    # a file name that would make such a label is refused too, with the way out
    named = make_tar(tmp_path / "deadbeef.tar.gz", [member("app.py", b"x = 2\n")])
    proc = sp("import", named, cwd=small_site)
    assert_one_line_error(proc, 2)
    assert "checkpoint id" in proc.stderr and "--label" in proc.stderr
    assert records(small_site) == before
