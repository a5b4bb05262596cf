"""``list`` shows a page of the newest checkpoints (a repository of 10,000 would otherwise print
10,000 rows, most of its time); ``--all`` and ``--limit`` choose, ``--json`` stays complete."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import safepoint
from safepoint.cli.list_cmd import PAGE
from safepoint.store.records import SAFETY, Checkpoint, Marks, save_record
from tests.helpers import assert_one_line_error, sp, sp_json, write

EXTRA = PAGE + 12


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real checkpoints and ``EXTRA`` older records written as ``create`` writes them
    (one an hour back each; every tenth a safety checkpoint)."""
    root = tmp_path_factory.mktemp("page") / "site"
    write(root / "app.py", "v1\n")
    sp("init", cwd=root, check=True)
    sp("create", "--label", "first", cwd=root, check=True)
    write(root / "app.py", "v2\n")
    sp("create", "--label", "newest", cwd=root, check=True)
    with safepoint.open_site(root) as s:
        base = s.repository.checkpoints()[-1]
        t0 = base.created_at
        for n in range(EXTRA):
            cp = replace(
                base,
                created=(t0 - timedelta(hours=n + 1)).isoformat(),
                label=f"old{n}",
                kind=SAFETY if n % 10 == 0 else base.kind,
            )
            save_record(s.repository.records_dir, cp)
    return root


def ids_in(text: str) -> list[str]:
    """The short ids of a table's rows, in order (header and separator lines skipped)."""
    return [
        line.split()[0]
        for line in text.splitlines()[1:]
        if line and not line.startswith(("--", "..."))
    ]


def test_list_shows_the_newest_page_and_says_how_many_are_left(site: Path) -> None:
    everything = sp_json("list", cwd=site)  # --json: complete
    assert len(everything) == EXTRA + 2
    newest = everything[:PAGE]
    proc = sp("list", cwd=site, check=True)
    shown = ids_in(proc.stdout)
    # The page holds exactly the newest PAGE, normal ones first, then the safety section.
    plain = [c["short_id"] for c in newest if c["kind"] != SAFETY]
    safety = [c["short_id"] for c in newest if c["kind"] == SAFETY]
    assert safety and shown == plain + safety
    assert proc.stdout.splitlines()[-1] == (
        f"... and {EXTRA + 2 - PAGE:,} older (--all shows every checkpoint, --limit N the newest N)"
    )


def test_all_and_limit(site: Path) -> None:
    everything = sp_json("list", cwd=site)
    every = sp("list", "--all", cwd=site, check=True).stdout
    assert sorted(ids_in(every)) == sorted(c["short_id"] for c in everything)
    assert "older" not in every
    three = sp("list", "--limit", "3", cwd=site, check=True).stdout
    assert ids_in(three) == [c["short_id"] for c in everything[:3]]
    assert three.splitlines()[-1].startswith(f"... and {EXTRA - 1:,} older")
    assert sp_json("list", "--limit", "5", cwd=site) == everything[:5]


def test_a_short_list_has_no_footer(tmp_path: Path) -> None:
    write(tmp_path / "app.py", "v1\n")
    sp("init", cwd=tmp_path, check=True)
    sp("create", cwd=tmp_path, check=True)
    text = sp("list", cwd=tmp_path, check=True).stdout
    assert len(text.splitlines()) == 2 and "older" not in text
    assert sp("list", "--json", "--all", cwd=tmp_path, check=True).stdout.startswith("[\n  {")


@pytest.mark.parametrize(
    "args",
    [["--all", "--limit", "3"], ["--limit", "0"], ["--limit", "many"]],
    ids=["both", "zero", "word"],
)
def test_bad_page_options(site: Path, args: list[str]) -> None:
    assert_one_line_error(sp("list", *args, cwd=site), 2)


def test_empty_json_list_is_an_empty_array(tmp_path: Path) -> None:
    write(tmp_path / "app.py", "v1\n")
    sp("init", cwd=tmp_path, check=True)
    assert json.loads(sp("list", "--json", cwd=tmp_path, check=True).stdout) == []


def test_to_json_is_asdict_and_copies_extra() -> None:
    """The fast ``to_json`` gives what ``dataclasses.asdict`` gave, and a caller changing the
    document does not change the (frozen) checkpoint."""
    cp = Checkpoint(
        id="ab" * 32,
        created=datetime(2026, 1, 2).isoformat(),
        kind="manual",
        manifest="cd" * 32,
        files=3,
        bytes=40,
        new_bytes=5,
        label="x",
        extra={"database": {"engine": "sqlite", "tables": ["a", "b"]}, "n": 1.5},
        marks=Marks(health="good", pinned=True),
    )
    before = copy.deepcopy(cp.extra)
    doc = cp.to_json()
    expected = asdict(cp)
    expected["marks"]["hosts"] = []  # each host's mark: a JSON list (none here)
    assert doc == expected
    doc["extra"]["database"]["tables"].append("c")
    doc["marks"]["pinned"] = False
    assert cp.extra == before and cp.marks.pinned
