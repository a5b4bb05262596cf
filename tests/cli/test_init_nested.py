"""``init`` inside another site's root refuses (exit 2, nothing written) unless --force: the
folder would be checkpointed by both sites, and a rollback of the outer one would rewrite it."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import assert_one_line_error, snapshot, sp, write


def test_init_in_a_subfolder_of_a_site_is_refused(site: Path) -> None:
    sub = site / "eventsite"
    before = snapshot(site)
    for args, cwd in ((["init"], sub), (["init", "--root", sub], site.parent)):
        proc = sp(*args, cwd=cwd)
        assert_one_line_error(proc, 2)
        assert f"is inside the site {site}" in proc.stderr and "--force" in proc.stderr
    deep = site / "templates" / "a" / "b"
    deep.mkdir(parents=True)
    assert_one_line_error(sp("init", cwd=deep), 2)
    deep.rmdir()
    deep.parent.rmdir()
    assert snapshot(site) == before  # no safepoint.toml, no repository written


def test_force_makes_a_separate_site_and_a_second_init_is_harmless(site: Path) -> None:
    sub = site / "eventsite"
    sp("init", "--force", cwd=sub, check=True)
    assert (sub / "safepoint.toml").is_file() and (sub / ".safepoint" / "format.json").is_file()
    sp("init", cwd=sub, check=True)  # an existing site: init stays harmless to repeat
    sp("create", cwd=sub, check=True)


def test_init_beside_a_site_is_not_inside_it(tmp_path: Path) -> None:
    write(tmp_path / "one" / "safepoint.toml", "")
    (tmp_path / "two").mkdir()
    sp("init", cwd=tmp_path / "two", check=True)
