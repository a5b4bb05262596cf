"""docs/API.md's worked example, run as the page shows it, so the page cannot go stale: the
assistant program is extracted from the page and run against a real site with a health check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import safepoint
from tests.helpers import snapshot, write

DOC = Path(__file__).resolve().parent.parent / "docs" / "API.md"
GOOD_APP = "def handler():\n    return 'ok'\n\nprint(handler())\n"
# The health check below runs the site's own code: a broken edit fails it.
HEALTH = """
[health]
timeout = 5
retries = 2
interval = 0.1
settle = 0.3
deadline = 10
[[health.command]]
run = "{python} app.py"
"""


def example_program() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) == 1, "docs/API.md should hold exactly one python block: the example"
    return blocks[0]


@pytest.fixture
def assistant(tmp_path: Path) -> Path:
    return write(tmp_path / "assistant.py", example_program())


@pytest.fixture
def app_site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    write(root / "app.py", GOOD_APP)
    write(root / "templates" / "index.html", "<h1>hello</h1>\n")
    safepoint.init_site(root)
    toml = root / "safepoint.toml"
    text = toml.read_text(encoding="utf-8").split("[health]", 1)[0]
    toml.write_text(text + HEALTH.format(python=sys.executable), encoding="utf-8")
    return root


def run_assistant(
    assistant: Path, root: Path, path: str, content: str
) -> subprocess.CompletedProcess[str]:
    new = write(root.parent / "new-content", content)
    return subprocess.run(
        [sys.executable, assistant, root, path, new],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root.parent,
    )


@pytest.mark.slow  # health checks over their settle window, twice
def test_the_example_keeps_a_healthy_edit(assistant: Path, app_site: Path) -> None:
    edited = GOOD_APP.replace("'ok'", "'ok, edited'")
    proc = run_assistant(assistant, app_site, "app.py", edited)
    assert proc.returncode == 0, proc.stderr
    assert "is known-good" in proc.stdout
    assert (app_site / "app.py").read_text() == edited
    with safepoint.open_site(app_site) as site:
        after = safepoint.find_checkpoint(site, "assistant-edit")
        before = safepoint.find_checkpoint(site, "before-assistant")
        assert safepoint.find_checkpoint(site, "good").id == after.id
    assert (after.marks.health, before.marks.health) == ("good", "good")
    assert before.note == "before editing app.py"


@pytest.mark.slow  # health checks over their settle window, twice
def test_the_example_rolls_back_a_breaking_edit(assistant: Path, app_site: Path) -> None:
    found = snapshot(app_site, skip=(".safepoint",))
    proc = run_assistant(assistant, app_site, "app.py", "def handler(:\n")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "unhealthy after the edit" in proc.stderr and "rolling back" in proc.stderr
    assert "healthy again" in proc.stdout
    assert snapshot(app_site, skip=(".safepoint",)) == found
    with safepoint.open_site(app_site) as site:
        assert safepoint.find_checkpoint(site, "assistant-edit").marks.health == "bad"
        kinds = [c.kind for c in safepoint.list_checkpoints(site)]
    assert kinds.count("safety") == 1  # the broken edit is kept for a look, as a safety checkpoint


def test_the_example_refuses_a_site_without_health_checks(assistant: Path, tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root / "app.py", GOOD_APP)
    safepoint.init_site(root)
    proc = run_assistant(assistant, root, "app.py", "changed\n")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("assistant: --verify-health needs health checks")
    assert (root / "app.py").read_text() == GOOD_APP  # refused before the edit
    with safepoint.open_site(root) as site:
        assert safepoint.list_checkpoints(site) == []


@pytest.mark.slow  # health checks over their settle window, twice
def test_the_example_does_not_edit_a_site_that_is_already_unhealthy(
    assistant: Path, app_site: Path
) -> None:
    write(app_site / "app.py", "raise SystemExit(3)\n")
    proc = run_assistant(assistant, app_site, "app.py", GOOD_APP)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "not editing: unhealthy already" in proc.stderr
    assert (app_site / "app.py").read_text() == "raise SystemExit(3)\n"
    with safepoint.open_site(app_site) as site:
        assert safepoint.find_checkpoint(site, "before-assistant").marks.health == "bad"
