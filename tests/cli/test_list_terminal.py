"""``list`` and ``show`` as a person sees them: on a terminal of 80 columns (a real pty, and
the Environment with a forced width) and piped; hostile labels and notes print literally."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import struct
import subprocess
import termios
import time
from dataclasses import replace
from fcntl import ioctl
from pathlib import Path

import pytest

import safepoint
from safepoint.cli.env import Environment
from safepoint.cli.main import main
from safepoint.cli.table import cell_width
from safepoint.store.records import save_record
from tests.helpers import SAFEPOINT, sp, sp_json, write

HOSTILE = "[link=http://evil]x[/link][bold red]y\x1b[31mred\x1b]8;;http://evil\x07"
ESCAPED = "[link=http://evil]x[/link][bold red]y\\x1b[31mred\\x1b]8;;http://evil\\x07"
NOTE = "first line \x1b[2J\n[blink]second[/blink]\n"


class Terminal(io.StringIO):
    """What a command sees on a terminal: isatty() is true."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    write(root / "app.py", "v1\n")
    sp("init", cwd=root, check=True)
    sp("create", "--label", "day2-stable", "--note", "before the upgrade", cwd=root, check=True)
    write(root / "app.py", "v2\n")
    # create refuses control characters in a label now; older repositories (and imports made
    # before labels were checked) hold them, so the record is written as such a version did.
    plain = sp_json("create", "--label", "to-be-hostile", "--note", NOTE, cwd=root)["id"]
    with safepoint.open_site(root) as s:
        records = s.repository.records_dir
        (cp,) = [c for c in s.repository.checkpoints() if c.id == plain]
        save_record(records, replace(cp, label=HOSTILE))
        (records / f"{plain}.json").unlink()
    sp("mark", "day2-stable", "good", cwd=root, check=True)
    sp("rollback", "day2-stable", "--yes", "--no-health", cwd=root, check=True)
    return root


def run(root: Path, *args: str, stdout: io.StringIO, columns: int | None = None) -> str:
    env = Environment(stdout=stdout, stderr=io.StringIO(), environ={}, columns=columns)
    assert main([*args, "--root", str(root)], env) == 0, env.stderr.getvalue()
    return stdout.getvalue()


def assert_literal(text: str) -> None:
    # The only escape sequences are the header's bold, which safepoint writes itself.
    assert "\x1b" not in text.replace("\x1b[1m", "").replace("\x1b[0m", "")
    assert "\x07" not in text


@pytest.mark.parametrize("stream", [Terminal, io.StringIO], ids=["terminal", "plain"])
def test_list_fits_80_columns_and_prints_labels_literally(site: Path, stream: type) -> None:
    text = run(site, "list", stdout=stream(), columns=80)
    assert_literal(text)
    lines = text.splitlines()
    assert all(
        cell_width(line.replace("\x1b[1m", "").replace("\x1b[0m", "")) <= 80 for line in lines
    )
    ids = [c["short_id"] for c in sp_json("list", cwd=site)]
    for short_id in ids:
        assert sum(line.startswith(short_id + " ") for line in lines) == 1  # whole, once
    assert "[link=http://evil]" in text  # cut to fit, but literal: never markup
    assert "health" in lines[0] and "created" in lines[0]
    assert "good (hand, " in text


def test_list_drops_columns_before_cutting_and_shows_safety_apart(site: Path) -> None:
    wide = run(site, "list", stdout=io.StringIO())
    assert wide.splitlines()[0].split() == [
        "id",
        "label",
        "kind",
        "created",
        "files",
        "size",
        "health",
        "pinned",
        "by",
        "note",
    ]
    assert ESCAPED in wide  # the whole label, escaped
    assert "before the upgrade" in wide
    narrow = run(site, "list", stdout=io.StringIO(), columns=80)
    header = narrow.splitlines()[0].split()
    assert "by" not in header and "note" not in header and "id" in header
    lines = wide.splitlines()
    sep = next(i for i, line in enumerate(lines) if line.startswith("-- safety checkpoints"))
    kinds = [c["kind"] for c in sp_json("list", cwd=site)]
    assert kinds.count("safety") == 1 and kinds[0] == "safety"  # the newest is the safety
    assert sep == len(lines) - 2 and "safety: before rollback to day2-stable" in lines[-1]


@pytest.mark.parametrize("stream", [Terminal, io.StringIO], ids=["terminal", "plain"])
def test_show_prints_stored_text_literally_with_the_mark(site: Path, stream: type) -> None:
    hostile_id = next(c["id"] for c in sp_json("list", cwd=site) if c["label"] == HOSTILE)
    text = run(site, "show", hostile_id, stdout=stream())
    assert_literal(text)
    assert f"label: {ESCAPED}\n" in text
    assert "    first line \\x1b[2J\n    [blink]second[/blink]\n" in text
    note = run(site, "show", hostile_id, "--note", stdout=stream())
    assert note == "first line \\x1b[2J\n[blink]second[/blink]\n"
    good = run(site, "show", "day2-stable", stdout=stream())
    assert "health: good (by hand, " in good and f"on {os.uname().nodename}" in good
    # the exact text stays available to programs
    assert json.loads(run(site, "show", hostile_id, "--json", stdout=io.StringIO()))["note"] == NOTE


@pytest.mark.slow
def test_other_commands_escape_stored_text(site: Path) -> None:
    hostile_id = next(c["id"] for c in sp_json("list", cwd=site) if c["label"] == HOSTILE)
    for args in (
        ["rollback", hostile_id, "--yes", "--no-health"],
        ["status"],
        ["diff", "day2-stable"],
        ["verify", hostile_id],
        ["mark", hostile_id, "bad", "--reason", "\x1b[5mblink"],
        ["rollback", hostile_id, "--dry-run"],
        ["export", hostile_id, "-o", str(site.parent / "out.tar.gz")],
    ):
        proc = sp(*args, cwd=site)
        assert proc.returncode == 0, (args, proc.stderr)
        assert_literal(proc.stdout + proc.stderr)
    proc = sp("show", "nope\x1b[31m", cwd=site)
    assert proc.returncode == 2 and "\x1b" not in proc.stderr


def test_list_on_a_real_terminal_of_80_columns(site: Path) -> None:
    """Through a pty, as a person runs it: no COLUMNS, the width comes from the terminal."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "SAFEPOINT_ROOT")}
    leader, follower = pty.openpty()
    ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [SAFEPOINT, "list"], cwd=site, env=env, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the command exited and closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.wait(10) == 0
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    assert text.startswith("\x1b[1mid ")  # a terminal: the header is bold
    assert_literal(text)
    for line in text.splitlines():
        assert cell_width(line.replace("\x1b[1m", "").replace("\x1b[0m", "")) <= 80, line
