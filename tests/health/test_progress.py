"""Progress of a health proof: a live line per check on a terminal, one plain line per attempt
on stderr otherwise (issue 11: a failing ``health`` used to be silent for half a minute)."""

from __future__ import annotations

import io
from pathlib import Path

from safepoint.cli.env import Environment
from safepoint.cli.main import main
from tests.helpers import sp, write


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def make_site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    write(root / "app.py", "x\n")
    sp("init", cwd=root, check=True)
    (root / "safepoint.toml").write_text(
        "[health]\nretries = 3\ninterval = 0.1\nsettle = 0.3\n"
        '[[health.command]]\nrun = "true"\n[[health.command]]\nrun = "exit 1"\n'
    )
    return root


def test_one_line_per_attempt_without_a_terminal(tmp_path: Path) -> None:
    proc = sp("health", cwd=make_site(tmp_path))
    assert proc.returncode == 4
    lines = proc.stderr.splitlines()
    failing = [line for line in lines if "exit 1 attempt" in line]
    assert [line.split(" attempt ")[1][:6] for line in failing] == ["1 of 3", "2 of 3", "3 of 3"]
    assert all(line.startswith("safepoint: health: ") and "elapsed" in line for line in failing)
    assert any("true settling" in line for line in lines)


def test_live_lines_on_a_terminal(tmp_path: Path) -> None:
    root = make_site(tmp_path)
    out, err = io.StringIO(), Terminal()
    code = main(["health", "--root", str(root)], Environment(stdout=out, stderr=err))
    assert code == 4
    shown = err.getvalue()
    assert "attempt 3 of 3" in shown and "settling" in shown and "elapsed" in shown
    assert "safepoint: health:" not in shown  # the live view, not the plain lines
    assert "1 of 2 health checks failed" in out.getvalue()
