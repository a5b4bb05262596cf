"""forget, undelete, prune and [retention] through the installed command, on histories whose
times are set with SAFEPOINT_NOW (store/records.now_iso), never by waiting."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, sp, sp_json, write


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    write(root / "app.py", "v0\n")
    sp("init", cwd=root, check=True)
    return root


def make(site: Path, label: str, when: str, *extra: str) -> dict[str, object]:
    write(site / "app.py", f"{label}\n")
    proc = sp(
        "create",
        "--label",
        label,
        *extra,
        "--json",
        cwd=site,
        env={"SAFEPOINT_NOW": when},
        check=True,
    )
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def labels(site: Path, *args: str) -> list[str]:
    return [cp["label"] for cp in sp_json("list", *args, cwd=site)]


def days(site: Path, n: int) -> list[dict[str, object]]:
    return [make(site, f"d{d:02}", f"2026-11-{d:02}T12:00:00+00:00") for d in range(1, n + 1)]


def test_forget_and_undelete_move_the_record_unchanged(site: Path) -> None:
    cps = days(site, 3)
    sp("forget", "d01", cwd=site, check=True)
    assert labels(site) == ["d03", "d02"]
    assert labels(site, "--forgotten") == ["d01"]
    assert_one_line_error(sp("show", "d01", cwd=site), 2)  # no longer a reference
    moved = site / ".safepoint" / "forgotten" / f"{cps[0]['id']}.json"
    assert hashlib.sha256(moved.read_bytes()).hexdigest() == cps[0]["id"]
    assert_one_line_error(sp("undelete", "d02", cwd=site), 2)  # not forgotten
    sp("undelete", str(cps[0]["id"])[:8], cwd=site, check=True)
    assert labels(site) == ["d03", "d02", "d01"]
    assert labels(site, "--forgotten") == []
    dry = sp("forget", "d02", "d01", "--dry-run", cwd=site, check=True)
    assert "would forget" in dry.stdout and labels(site) == ["d03", "d02", "d01"]
    sp("restore", "d01", "--to", site.parent / "out", cwd=site, check=True)
    assert (site.parent / "out" / "app.py").read_text() == "d01\n"


def test_forget_refuses_what_must_stay(site: Path) -> None:
    days(site, 2)
    make(site, "pinned", "2026-11-03T12:00:00+00:00", "--pin")
    make(site, "head", "2026-11-04T12:00:00+00:00")
    sp("mark", "d02", "good", cwd=site, check=True)
    for ref, why in [("pinned", "pinned"), ("d02", "newest known-good")]:
        proc = sp("forget", ref, "d01", cwd=site)
        assert_one_line_error(proc, 2)
        assert why in proc.stderr and "--force" in proc.stderr
        assert labels(site) == ["head", "pinned", "d02", "d01"]  # all or nothing
    proc = sp("forget", "head", "--force", cwd=site)
    assert_one_line_error(proc, 2)
    assert "the tree last matched it" in proc.stderr
    sp("forget", "pinned", "d02", "--force", cwd=site, check=True)
    assert labels(site) == ["head", "d01"]


def test_a_pending_rollback_keeps_its_checkpoints_even_with_force(site: Path) -> None:
    cps = days(site, 3)
    journal = {
        "version": 1,
        "target": cps[0]["id"],
        "safety": cps[1]["id"],
        "nonce": "1a2b3c4d",
        "started": "2026-11-04T00:00:00+00:00",
        "purpose": "rollback",
    }
    (site / ".safepoint" / "journal.json").write_text(json.dumps(journal))
    for ref in ("d01", "d02"):
        proc = sp("forget", ref, "--force", cwd=site)
        assert_one_line_error(proc, 2)
        assert "a pending rollback needs it" in proc.stderr
    assert labels(site) == ["d03", "d02", "d01"]


def test_prune_keeps_by_the_policy_and_says_why(site: Path) -> None:
    days(site, 8)
    dry = sp("prune", "--keep-daily", "3", "--keep-label", "d01", "--dry-run", cwd=site, check=True)
    assert labels(site) == [f"d{d:02}" for d in range(8, 0, -1)]  # nothing moved
    lines = {line.split()[4]: line for line in dry.stdout.splitlines() if "(d" in line}
    assert lines["(d08):"].endswith("the tree last matched it, daily")
    assert lines["(d01):"].endswith("label d01")
    assert lines["(d04)"].startswith("gone")
    out = sp_json("prune", "--keep-daily", "3", "--keep-label", "d01", cwd=site)
    assert [cp["label"] for cp in out["forgotten"]] == ["d05", "d04", "d03", "d02"]
    assert labels(site) == ["d08", "d07", "d06", "d01"]
    assert labels(site, "--forgotten") == ["d05", "d04", "d03", "d02"]
    assert "safepoint gc" in sp("prune", "--keep-last", "1", cwd=site, check=True).stdout


def test_prune_refusals(site: Path) -> None:
    days(site, 3)
    assert "needs a policy" in sp("prune", cwd=site).stderr
    assert_one_line_error(sp("prune", cwd=site), 2)
    proc = sp("prune", "--keep-within", "3w", cwd=site)
    assert_one_line_error(proc, 2)
    assert "unknown duration '3w'" in proc.stderr
    (site / ".safepoint" / "head.json").unlink()  # nothing protects the newest any more
    proc = sp("prune", "--keep-label", "nothing-has-it", cwd=site)
    assert_one_line_error(proc, 2)
    assert "would forget every checkpoint" in proc.stderr
    assert labels(site) == ["d03", "d02", "d01"]


def test_retention_auto_prunes_after_create(site: Path) -> None:
    with (site / "safepoint.toml").open("a") as f:
        f.write('\n[retention]\nauto = true\nkeep_last = 2\nkeep_label = ["d01"]\n')
    days(site, 4)
    assert labels(site) == ["d04", "d03", "d01"]
    assert labels(site, "--forgotten") == ["d02"]
    # the command line replaces the configured policy
    sp("prune", "--keep-last", "1", cwd=site, check=True)
    assert labels(site) == ["d04"]


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("keep_last = -1", "keep_last"),
        ("keep_daily = 1e9", "keep_daily"),
        ('keep_within = "7 days"', "keep_within"),
        ("auto = 1", "auto"),
        ("auto = true", "auto"),  # auto with no rule
        ("keep_hourlee = 3", "keep_hourlee"),
    ],
)
def test_bad_retention_config_is_refused(site: Path, table: str, key: str) -> None:
    with (site / "safepoint.toml").open("a") as f:
        f.write(f"\n[retention]\n{table}\n")
    proc = sp("list", cwd=site)
    assert_one_line_error(proc, 2)
    assert f"[retention] {key}:" in proc.stderr


def test_the_catalogue_follows_marks_records_and_damage(site: Path) -> None:
    cps = days(site, 3)
    repo = site / ".safepoint"
    assert labels(site) == ["d03", "d02", "d01"]
    assert (repo / "catalogue").exists()
    sp("mark", "d01", "bad", cwd=site, check=True)  # marks change after it was written
    assert sp_json("show", "d01", cwd=site)["marks"]["health"] == "bad"
    (repo / "catalogue").write_bytes(b"SPCAT1\n" + b"\0" * 40)  # damaged: rebuilt
    assert labels(site) == ["d03", "d02", "d01"]
    assert sp_json("show", "d01", cwd=site)["marks"]["health"] == "bad"
    # a record renamed in by hand (or by an older version) is seen at once
    sp("forget", "d02", cwd=site, check=True)
    assert labels(site) == ["d03", "d01"]
    name = f"{cps[1]['id']}.json"
    (repo / "forgotten" / name).rename(repo / "checkpoints" / name)
    assert labels(site) == ["d03", "d02", "d01"]


def test_retention_auto_prunes_after_a_rollback(site: Path) -> None:
    with (site / "safepoint.toml").open("a") as f:
        f.write('\n[retention]\nauto = true\nkeep_last = 2\nkeep_safety_within = "1h"\n')
    days(site, 2)
    for day, ref in (("05", "d01"), ("10", "d02")):
        proc = sp(
            "rollback",
            ref,
            "--yes",
            "--no-health",
            cwd=site,
            env={"SAFEPOINT_NOW": f"2026-11-{day}T12:00:00+00:00"},
            check=True,
        )
    assert "[retention] forgot 1 checkpoint(s)" in proc.stderr
    gone = sp_json("list", "--forgotten", cwd=site)
    assert [(cp["kind"], cp["created"][:10]) for cp in gone] == [("safety", "2026-11-05")]
    listed = sp_json("list", cwd=site)
    assert [(cp["kind"], cp["label"]) for cp in listed][1:] == [
        ("manual", "d02"),
        ("manual", "d01"),
    ]


def test_verify_reads_records_from_their_files_not_the_catalogue(site: Path) -> None:
    cps = days(site, 2)
    assert labels(site) == ["d02", "d01"]  # catalogued
    record = site / ".safepoint" / "checkpoints" / f"{cps[0]['id']}.json"
    record.write_text(record.read_text().replace('"d01"', '"D01"'))  # damaged on disk since
    proc = sp("verify", cwd=site)
    assert proc.returncode == 3, proc.stderr
    assert str(record) in proc.stdout + proc.stderr
