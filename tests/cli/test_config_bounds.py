"""Numbers in safepoint.toml are bounded: TOML allows inf, nan and 1e300, which crashed health,
guard and export, and made a rollback switch files and stop with no verdict and no undo."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, snapshot, sp, sp_json, write

CHECK = '[[health.command]]\nrun = "true"\n'


@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "-inf"])
@pytest.mark.parametrize(
    ("table", "key"),
    [("health", "timeout"), ("health", "interval"), ("guard", "interval"), ("guard", "cooldown")],
)
def test_non_finite_and_huge_numbers_are_refused_at_load(
    site: Path, table: str, key: str, value: str
) -> None:
    sp("create", cwd=site, check=True)
    (site / "safepoint.toml").write_text(f"[{table}]\n{key} = {value}\n" + CHECK)
    for command in (["health"], ["guard", "--once"], ["export", "latest", "-o", site.parent]):
        proc = sp(*command, cwd=site, timeout=30)
        assert_one_line_error(proc, 2)
        assert "safepoint.toml" in proc.stderr and f"[{table}] {key}:" in proc.stderr
        assert "finite" in proc.stderr or "at most" in proc.stderr or "at least" in proc.stderr


@pytest.mark.parametrize(("key", "value"), [("retries", "1000000000000"), ("timeout", "3601")])
def test_numbers_over_their_maximum_name_it(site: Path, key: str, value: str) -> None:
    (site / "safepoint.toml").write_text(f"[health]\n{key} = {value}\n" + CHECK)
    proc = sp("health", cwd=site)
    assert_one_line_error(proc, 2)
    assert f"[health] {key}: must be at most" in proc.stderr


@pytest.mark.slow
def test_a_rollback_with_timeout_inf_changes_nothing(site: Path) -> None:
    """As met: the rollback switched the files, then crashed in the health checks."""
    first = sp_json("create", cwd=site)["id"]
    write(site / "eventsite" / "urls.py", "urlpatterns = ['changed']\n")
    sp("create", cwd=site, check=True)
    (site / "safepoint.toml").write_text("[health]\ntimeout = inf\n" + CHECK)
    before = snapshot(site)
    proc = sp("rollback", first, "--yes", cwd=site, timeout=60)
    assert_one_line_error(proc, 2)
    assert "[health] timeout: must be a finite number" in proc.stderr
    assert snapshot(site) == before
    (site / "safepoint.toml").write_text("[health]\ntimeout = 3600\n" + CHECK)
    assert sp("rollback", first, "--yes", cwd=site, timeout=60).returncode == 0


def test_guard_options_are_bounded(site: Path) -> None:
    (site / "safepoint.toml").write_text(CHECK)
    for option in ("--interval", "--cooldown"):
        proc = sp("guard", "--once", option, "inf", cwd=site, timeout=30)
        assert_one_line_error(proc, 2)
