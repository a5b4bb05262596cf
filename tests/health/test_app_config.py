"""``[app]``, ``settle`` and ``deadline`` as a user gets them wrong, and ``server = "command"``:
one clear line and the documented exit code, and a rollback that cannot prove health is undone
(or refused before it changes anything). No gunicorn here: these are fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from safepoint.health import gunicorn as gu
from tests.helpers import assert_one_line_error, snapshot, sp, sp_json, write


def make_site(tmp_path: Path, app: str, *, health: str = "retries = 1\nsettle = 0.2") -> Path:
    root = tmp_path / "site"
    write(root / "app.py", "print('v1')\n")
    sp("init", cwd=root, check=True)
    (root / "safepoint.toml").write_text(
        f'{app}\n[health]\n{health}\n[[health.command]]\nrun = "true"\n'
    )
    sp("create", "--label", "v1", cwd=root, check=True)
    write(root / "app.py", "print('v2')\n")
    sp("create", "--label", "v2", cwd=root, check=True)
    return root


@pytest.fixture
def stranger() -> Iterator[int]:
    """A live process that is not gunicorn."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ('[app]\nserver = "uwsgi"\npidfile = "x.pid"', 'server: expected "gunicorn" or "command"'),
        ('[app]\nserver = "gunicorn"', "pidfile: missing (required)"),
        ('[app]\nserver = "command"', "reload: missing (required)"),
        ('[app]\nserver = "command"\nreload = "x"\npidfile = "a"', "pidfile: not used with server"),
        ('[app]\nserver = "gunicorn"\npidfile = "a"\nreload = "x"', "reload: not used with server"),
        ('[app]\nserver = "gunicorn"\npidfile = "a"\ntimeout = 0', "timeout: must be greater"),
        ('[app]\nserver = "gunicorn"\npidfile = "a"\ntimeout = 99999', "at most 3600"),
        ('[app]\nserver = "gunicorn"\npidfile = "a"\nworkers = "2"', "workers: expected an int"),
        ('[app]\nserver = "gunicorn"\npidfile = "a"\nbind = "x"', "bind: unknown key"),
    ],
)
def test_bad_app_section_is_rejected(tmp_path: Path, app: str, message: str) -> None:
    root = tmp_path / "site"
    write(root / "app.py", "x\n")
    (root / "safepoint.toml").write_text(app + "\n")
    proc = sp("status", cwd=root)
    assert_one_line_error(proc, 2)
    assert message in proc.stderr and "[app]" in proc.stderr


def test_settle_window_longer_than_the_deadline_is_a_config_error(tmp_path: Path) -> None:
    root = make_site(tmp_path, "")
    toml = root / "safepoint.toml"
    toml.write_text(toml.read_text().replace("settle = 0.2", "settle = 5\ndeadline = 5"))
    proc = sp("health", cwd=root)
    assert_one_line_error(proc, 2)
    assert "settle window (5s) must be shorter than the deadline (5s)" in proc.stderr


def test_deadline_option_shorter_than_settle_refused_before_changing_files(
    tmp_path: Path,
) -> None:
    root = make_site(tmp_path, "", health="settle = 2")
    before = snapshot(root, skip=(".safepoint",))
    proc = sp("rollback", "v1", "--yes", "--deadline", "1", cwd=root)
    assert_one_line_error(proc, 2)
    assert "--deadline" in proc.stderr
    assert snapshot(root, skip=(".safepoint",)) == before
    assert_one_line_error(sp("health", "--deadline", "2", cwd=root), 2)


def test_pid_of_a_process_that_is_not_gunicorn_refused_before_changing_files(
    tmp_path: Path, stranger: int
) -> None:
    app = '[app]\nserver = "gunicorn"\npidfile = "run/app.pid"\nstart = "true"'
    root = make_site(tmp_path, app + '\n[files]\nexclude = ["run/"]')
    write(root / "run" / "app.pid", f"{stranger}\n")
    before = snapshot(root, skip=(".safepoint",))
    proc = sp("rollback", "v1", "--yes", cwd=root)
    assert_one_line_error(proc, 2)
    assert f"names process {stranger}, which is not a gunicorn master" in proc.stderr
    assert snapshot(root, skip=(".safepoint",)) == before


def test_app_down_and_no_start_refused_before_changing_files(tmp_path: Path) -> None:
    root = make_site(tmp_path, '[app]\nserver = "gunicorn"\npidfile = "gone.pid"')
    before = snapshot(root, skip=(".safepoint",))
    proc = sp("rollback", "v1", "--yes", cwd=root)
    assert_one_line_error(proc, 2)
    assert "not running" in proc.stderr and "[app] start is not configured" in proc.stderr
    assert snapshot(root, skip=(".safepoint",)) == before


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("echo no such server >&2; exit 3", "[app] start 'echo no such server >&2; exit 3' "
         "failed: exit 3: no such server"),
        ("true", "no gunicorn master wrote"),
    ],
)  # fmt: skip
@pytest.mark.slow
def test_start_that_fails_or_writes_no_pid_undoes_the_rollback(
    tmp_path: Path, start: str, message: str
) -> None:
    # A stale pid file (no such process) means "not running": start is run.
    app = f'[app]\nserver = "gunicorn"\npidfile = "app.pid"\nstart = {json.dumps(start)}\n'
    root = make_site(tmp_path, app + "timeout = 1\n[files]\nexclude = ['app.pid']")
    write(root / "app.pid", "999999999\n")
    proc = sp("rollback", "v1", "--yes", "--json", cwd=root)
    assert proc.returncode == 4, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["undone"]
    assert message in doc["health"]["reload_error"]
    assert "Traceback" not in proc.stderr
    assert (root / "app.py").read_text() == "print('v2')\n"  # undone, not half-way
    assert not (root / "app.pid").exists()  # the stale file was removed before start


@pytest.mark.slow
def test_server_command_reloads_and_marks_good_only_with_reload(tmp_path: Path) -> None:
    log = tmp_path / "reloads.txt"
    app = f'[app]\nserver = "command"\nreload = "echo reloaded >> {log}"'
    root = make_site(tmp_path, app)
    proc = sp("rollback", "v1", "--yes", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text() == "reloaded\n"
    assert "app reloaded by its command" in proc.stdout

    proc = sp("create", "--label", "c1", "--verify-health", cwd=root)
    assert proc.returncode == 4
    assert 'server = "command"' in proc.stderr and "--reload" in proc.stderr
    assert sp_json("show", "c1", cwd=root)["marks"]["health"] is None

    proc = sp("create", "--label", "c2", "--verify-health", "--reload", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert sp_json("show", "c2", cwd=root)["marks"]["health"] == "good"
    assert log.read_text() == "reloaded\n" * 2


def test_failing_reload_command_undoes_the_rollback(tmp_path: Path) -> None:
    root = make_site(tmp_path, '[app]\nserver = "command"\nreload = "exit 7"')
    proc = sp("rollback", "v1", "--yes", cwd=root)
    assert proc.returncode == 4
    assert "[app] reload 'exit 7' failed: exit 7" in proc.stderr
    assert (root / "app.py").read_text() == "print('v2')\n"


def test_options_of_a_command_line() -> None:
    args = ["gunicorn", "-w3", "--bind=127.0.0.1:8000", "-p", "g.pid", "--workers", "5"]
    assert gu.option(args, "-w", "--workers") == "3"
    assert gu.option(args, "-b", "--bind") == "127.0.0.1:8000"
    assert gu.option(args, "-p", "--pid") == "g.pid"
    assert gu.option(["gunicorn", "--preload"], "-w", "--workers") is None


def test_a_python_process_is_not_a_gunicorn_master(stranger: int) -> None:
    assert gu.is_running(stranger) and not gu.is_gunicorn_master(stranger)
    me, other = gu.proc_info(os.getpid()), gu.proc_info(stranger)
    assert me is not None and other is not None and me.started_ns < other.started_ns
    assert gu.read_pid(Path(sys.executable)) is None
