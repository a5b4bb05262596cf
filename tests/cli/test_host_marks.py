"""Health marks per host: two site roots sharing one repository stand for two hosts
(``SAFEPOINT_HOST=a`` and ``b``). A checkpoint proven good on A and failing on B stays good on A
and bad on B; a bare rollback on each host goes by that host's own verdict."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import assert_one_line_error, sp, sp_json, write

HEALTH = """
[health]
settle = 0
retries = 1
interval = 0.1
timeout = 10
[[health.command]]
run = "test -f logs/ok"
"""


def host(name: str) -> dict[str, str]:
    return {"SAFEPOINT_HOST": name}


def two_hosts(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Roots A (healthy: logs/ok, which no checkpoint holds) and B (not), one repository."""
    repo = tmp_path / "shared-repo"
    roots = []
    for name in ("a", "b"):
        root = tmp_path / name
        write(root / "app.py", "v1\n")
        write(root / "safepoint.toml", f'[repository]\npath = "{repo}"\n{HEALTH}')
        roots.append(root)
    write(roots[0] / "logs" / "ok", "")
    sp("init", cwd=roots[0], check=True)
    return roots[0], roots[1], repo


def test_a_mark_earned_on_one_host_is_not_overwritten_by_another(tmp_path: Path) -> None:
    a, b, _ = two_hosts(tmp_path)
    sp("create", "--label", "v1", "--verify-health", cwd=a, env=host("a"), check=True)
    # B rolls back to v1: its checks fail there, the rollback is undone and v1 is bad on B.
    write(b / "app.py", "b's own\n")
    proc = sp("rollback", "v1", "--yes", cwd=b, env=host("b"))
    assert proc.returncode == 4, proc.stderr
    assert (b / "app.py").read_text() == "b's own\n"
    [on_a] = [c for c in sp_json_env("list", cwd=a, env=host("a")) if c["label"] == "v1"]
    [on_b] = [c for c in sp_json_env("list", cwd=b, env=host("b")) if c["label"] == "v1"]
    assert on_a["marks"]["health"] == "good"
    assert on_b["marks"]["health"] == "bad"
    assert {m["health_host"]: m["health"] for m in on_a["marks"]["hosts"]} == {
        "a": "good",
        "b": "bad",
    }
    # A bare rollback on A goes to v1, proven good on A ...
    write(a / "app.py", "broken\n")
    proc = sp("rollback", "--yes", cwd=a, env=host("a"))
    assert proc.returncode == 0, proc.stderr
    assert (a / "app.py").read_text() == "v1\n"
    # ... and on B it refuses: nothing has been proven good on B.
    assert_one_line_error(sp("rollback", "--yes", cwd=b, env=host("b")), 2)
    assert (b / "app.py").read_text() == "b's own\n"
    # show on either host lists both verdicts; list shows the host's own.
    shown = sp("show", "v1", cwd=b, env=host("b"), check=True).stdout
    assert "health: bad (by rollback" in shown
    assert "elsewhere: good (by rollback" in shown and "on a)" in shown  # A proved it again
    listed = sp("list", cwd=a, env=host("a"), check=True).stdout
    v1_line = next(line for line in listed.splitlines() if " v1 " in line)
    assert "good (" in v1_line and "bad" not in v1_line


def test_clear_and_pinned(tmp_path: Path) -> None:
    a, b, _ = two_hosts(tmp_path)
    sp("create", "--label", "v1", "--pin", cwd=a, env=host("a"), check=True)
    sp("mark", "v1", "good", cwd=a, env=host("a"), check=True)
    sp("mark", "v1", "bad", cwd=b, env=host("b"), check=True)
    sp("mark", "v1", "clear", cwd=b, env=host("b"), check=True)  # clears B's mark only
    doc = sp_json_env("show", "v1", cwd=a, env=host("a"))
    assert doc["marks"]["health"] == "good"
    assert [m["health_host"] for m in doc["marks"]["hosts"]] == ["a"]
    assert doc["marks"]["pinned"] is True  # pinned is for every host
    assert sp_json_env("show", "v1", cwd=b, env=host("b"))["marks"]["pinned"] is True


def test_marks_files_of_earlier_versions_still_read(tmp_path: Path) -> None:
    a, b, repo = two_hosts(tmp_path)
    sp("create", "--label", "v1", cwd=a, env=host("a"), check=True)
    cid = sp_json_env("show", "v1", cwd=a, env=host("a"))["id"]
    old = {"health": "good", "health_at": "2026-12-01T10:00:00+00:00", "health_by": "mark"}
    # One mark with its host: it counts on that host only.
    (repo / "marks" / f"{cid}.json").write_text(
        json.dumps({**old, "health_host": "a", "health_reason": None, "pinned": False})
    )
    assert sp_json_env("show", "v1", cwd=a, env=host("a"))["marks"]["health"] == "good"
    assert sp_json_env("show", "v1", cwd=b, env=host("b"))["marks"]["health"] is None
    # The oldest form, without a host: every host reads it as its own.
    (repo / "marks" / f"{cid}.json").write_text(json.dumps({"health": "good", "pinned": True}))
    for root, name in ((a, "a"), (b, "b")):
        marks = sp_json_env("show", "v1", cwd=root, env=host(name))["marks"]
        assert (marks["health"], marks["pinned"]) == ("good", True)


def test_a_bad_host_name_is_refused(tmp_path: Path) -> None:
    a, _, _ = two_hosts(tmp_path)
    assert_one_line_error(sp("create", cwd=a, env=host("a\x1bb")), 2)
    assert_one_line_error(sp("create", cwd=a, env=host("")), 2)


def test_records_name_the_host_they_were_made_on(tmp_path: Path) -> None:
    a, b, _ = two_hosts(tmp_path)
    sp("create", "--label", "on-a", cwd=a, env=host("a"), check=True)
    sp("create", "--label", "on-b", cwd=b, env=host("b"), check=True)
    by_label = {c["label"]: c["host"] for c in sp_json_env("list", cwd=a, env=host("a"))}
    assert by_label == {"on-a": "a", "on-b": "b"}
    wide = {**host("a"), "COLUMNS": "200"}  # narrow terminals drop the user@host column
    assert "@b" in sp("list", cwd=a, env=wide, check=True).stdout


def test_a_prune_on_one_host_keeps_each_host_s_newest_known_good(tmp_path: Path) -> None:
    a, b, _ = two_hosts(tmp_path)
    sp("create", "--label", "good-on-a", cwd=a, env=host("a"), check=True)
    sp("mark", "good-on-a", "good", cwd=a, env=host("a"), check=True)
    for label in ("b1", "b2"):
        write(b / "app.py", f"{label}\n")
        sp("create", "--label", label, cwd=b, env=host("b"), check=True)
    proc = sp("prune", "--keep-last", "1", cwd=b, env=host("b"))
    assert proc.returncode == 0, proc.stderr
    kept = {c["label"] for c in sp_json_env("list", cwd=b, env=host("b"))}
    assert kept == {"good-on-a", "b2"}  # A's bare rollback still has somewhere to go
    assert_one_line_error(sp("forget", "good-on-a", cwd=b, env=host("b")), 2)


def sp_json_env(*args: str, cwd: Path, env: dict[str, str]) -> object:
    proc = sp(*args, "--json", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


assert sp_json  # the shared helper has no env; sp_json_env is it with one
