"""The Python API's rollback returns its outcome: an unhealthy target that was undone is a
result (``undone``), not an exception that carries the result inside it."""

from __future__ import annotations

from pathlib import Path

import safepoint
from tests.helpers import EXCLUDED, make_site, snapshot, sp, write

# Healthy while ok.txt is in the site: the first checkpoint lacks it, so rolling back to it
# fails the proof and is undone.
CONFIG = """
[health]
retries = 1
interval = 0.1
settle = 0

[[health.command]]
run = "test -f ok.txt"
"""


def test_an_undone_rollback_is_returned_and_the_command_line_exits_4(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    safepoint.init_site(root)
    write(root / "safepoint.toml", CONFIG)
    with safepoint.open_site(root) as site:
        first = safepoint.create_checkpoint(site, label="without-ok").checkpoint
    write(root / "ok.txt", "ok\n")
    before = snapshot(root, skip=EXCLUDED)

    with safepoint.open_site(root) as site:
        result = safepoint.rollback(site, first.id)
    assert result.undone and result.safety is not None
    assert result.proof is not None and not result.proof.ok
    assert result.undo_proof is not None and result.undo_proof.ok
    summary = result.undo_summary()
    assert f"rolling back to {first.short_id}" in summary and "healthy again" in summary
    assert result.safety.short_id in summary
    assert snapshot(root, skip=EXCLUDED) == before  # back where it was

    proc = sp("rollback", first.id, "--yes", cwd=root)  # the CLI maps it to exit 4
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "UNDONE: the target was not healthy" in proc.stdout
    last = proc.stderr.strip().splitlines()[-1]  # one error line, after the report
    failed = f"safepoint: health checks failed after rolling back to {first.short_id}"
    assert last.startswith(failed)
    assert "the rollback was undone" in last and last.endswith("healthy again")
    assert snapshot(root, skip=EXCLUDED) == before

