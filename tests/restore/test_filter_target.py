"""``filter_target``: a checkpoint recorded under other rules is filtered by the current ones."""

from __future__ import annotations

from pathlib import Path

from safepoint.config import Config
from safepoint.model.entry import DIR, FILE, SYMLINK, Entry
from safepoint.restore.plan import filter_target
from safepoint.scan.rules import DEFAULT_EXCLUDES, Rules


def entry(path: str, kind: str = FILE, target: str | None = None) -> Entry:
    return Entry(path, kind, 0o644, 0, 0, 1, 0, target, "ab" * 32 if kind == FILE else None)


OLD = [
    entry(".safepoint", SYMLINK, "/other/disk/sp"),  # recorded by a version before this one
    entry("bakerydemo", DIR),
    entry("bakerydemo/settings.py"),
    entry("celerybeat-schedule"),
    entry("gunicorn.pid"),
    entry("media", SYMLINK, "/mnt/volume/media"),
    entry("static", DIR),
    entry("static/app.css"),
    entry("tmp", DIR),
    entry("tmp/app.sock"),
    entry("yarn.lock"),
]


def site_rules(tmp_path: Path, *exclude: str) -> Rules:
    root = tmp_path / "site"
    root.mkdir(exist_ok=True)
    config = Config(root=root, source=None, repository=root / ".safepoint", exclude=exclude)
    return Rules.for_site(config)


def test_runtime_files_excluded_dirs_as_links_and_the_repository_link_are_dropped(
    tmp_path: Path,
) -> None:
    rules = site_rules(tmp_path)
    kept = [e.path for e in filter_target(OLD, rules, made_with="older-rules")]
    assert kept == [
        "bakerydemo",
        "bakerydemo/settings.py",
        "static",
        "static/app.css",
        "tmp",
        "yarn.lock",
    ]


def test_nothing_is_filtered_under_the_same_rules(tmp_path: Path) -> None:
    rules = site_rules(tmp_path)
    assert filter_target(OLD, rules, made_with=rules.fingerprint) == OLD


def test_a_removed_rule_no_longer_keeps_what_it_reincluded(tmp_path: Path) -> None:
    """The checkpoint was made while a rule re-included the database; it is filtered by the
    rules of now, in which that rule is gone."""
    then = site_rules(tmp_path, "!gunicorn.pid", "!media/", "!static/")
    now = site_rules(tmp_path, "static/")
    assert then.fingerprint != now.fingerprint
    made = filter_target(OLD, then, made_with="older-rules")
    assert "gunicorn.pid" in [e.path for e in made]
    kept = [e.path for e in filter_target(made, now, made_with=then.fingerprint)]
    assert "gunicorn.pid" not in kept
    assert not [p for p in kept if p == "static" or p.startswith("static/")]


def test_the_fingerprint_changed_with_content_detection() -> None:
    """Checkpoints recorded under the defaults of the version before are filtered again."""
    before = Rules([p for p in DEFAULT_EXCLUDES if p not in ("*.pid", "*.sock")])
    assert Rules(DEFAULT_EXCLUDES).fingerprint != before.fingerprint
    assert {"*.pid", "*.sock", "celerybeat-schedule*"} <= set(DEFAULT_EXCLUDES)
    assert not any(p.endswith(".lock") for p in DEFAULT_EXCLUDES)
