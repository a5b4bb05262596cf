"""Transfers to and from S3 (a real moto server): a progress bar on a terminal only, and the
packs a fresh host needs fetched up front, a few at once (through a slow link)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.helpers import EXCLUDED, SAFEPOINT, snapshot, sp, write
from tests.remote.conftest import Remote
from tests.remote.proxy import slow_link
from tests.store.backend.servers import Server

pytestmark = pytest.mark.slow  # several commands against moto each (scrypt: 0.5 s each)

TTY_LIMIT = 120.0


def on_tty(remote: Remote, root: Path, *args: str) -> tuple[int, str]:
    """Run ``safepoint ARGS`` with stdin, stdout and stderr on a pseudo-terminal, as a person
    at a terminal would; its exit code and everything it wrote there."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("SAFEPOINT_ROOT", "COLUMNS")}
    env.update(remote.env, TERM="xterm-256color", SAFEPOINT_PROGRESS_DELAY="0")
    proc = subprocess.Popen(
        [SAFEPOINT, *args], cwd=root, env=env, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + TTY_LIMIT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every end of the terminal's other side is closed
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, out.decode(errors="replace")


def _data_site(remote: Remote, root: Path, mib: int) -> Path:
    root = remote.site(root)
    for i in range(mib):
        write(root / "static" / f"blob{i:02}.bin", os.urandom(1 << 20))  # incompressible
    write(root / "app.py", "print('v1')\n")
    return root


def test_a_terminal_shows_uploads_and_downloads_a_pipe_and_json_do_not(
    remote: Remote, tmp_path: Path
) -> None:
    a = _data_site(remote, tmp_path / "a", 3)
    assert sp("init", cwd=a, env=remote.env).returncode == 0
    code, screen = on_tty(remote, a, "create", "--label", "A1")
    assert code == 0, screen
    assert "uploading" in screen, screen

    b = remote.site(tmp_path / "b")
    assert sp("init", cwd=b, env=remote.env).returncode == 0
    code, screen = on_tty(remote, b, "restore", "A1", "--to", str(tmp_path / "out"))
    assert code == 0, screen
    assert "downloading" in screen, screen
    assert snapshot(tmp_path / "out") == snapshot(a, skip=EXCLUDED)

    c = remote.site(tmp_path / "c")  # a fresh host rolls back: its packs come down first
    assert sp("init", cwd=c, env=remote.env).returncode == 0
    code, screen = on_tty(remote, c, "rollback", "A1", "--yes", "--no-health")
    assert code == 0, screen
    assert "downloading" in screen, screen
    assert (c / "static" / "blob02.bin").read_bytes() == (a / "static" / "blob02.bin").read_bytes()

    # Pipes, and --json on a terminal: the same transfers, no bar.
    write(a / "static" / "blob00.bin", os.urandom(1 << 20))
    piped = sp("create", cwd=a, env={**remote.env, "SAFEPOINT_PROGRESS_DELAY": "0"})
    assert piped.returncode == 0, piped.stderr
    assert "uploading" not in piped.stdout + piped.stderr
    assert sum(t["sent"] for t in remote.transfers()) > 1 << 20  # it did upload
    d = remote.site(tmp_path / "d")
    assert sp("init", cwd=d, env=remote.env).returncode == 0
    out2 = tmp_path / "out2"
    piped = sp(
        "restore", "A1", "--to", out2, cwd=d, env={**remote.env, "SAFEPOINT_PROGRESS_DELAY": "0"}
    )
    assert piped.returncode == 0, piped.stderr
    assert "downloading" not in piped.stdout + piped.stderr
    write(a / "static" / "blob01.bin", os.urandom(1 << 20))
    code, screen = on_tty(remote, a, "create", "--json")
    assert code == 0, screen
    assert "uploading" not in screen and '"id"' in screen, screen


def test_a_fresh_host_fetches_the_packs_it_needs_up_front_a_few_at_once(
    moto: Server, tmp_path: Path
) -> None:
    """Six packs behind a link that holds each pack download 0.4 s: a restore on a fresh host
    has PARALLEL (4) of them in flight at once (the old lazy fetch: one per reading thread),
    downloads each once, and only those the checkpoint needs."""
    with slow_link(moto, delay=0.4) as link:
        remote = Remote(link.server, tmp_path)
        a = remote.site(tmp_path / "a")
        assert sp("init", cwd=a, env=remote.env).returncode == 0
        for n in range(6):  # one pack per checkpoint: ten small files each
            for f in range(10):
                write(a / f"pkg{n}" / f"m{f}.py", os.urandom(2000))
            assert sp("create", "--label", f"C{n}", cwd=a, env=remote.env).returncode == 0
        write(a / "later" / "x.py", os.urandom(200_000))  # a pack C5 does not need
        assert sp("create", "--label", "later", cwd=a, env=remote.env).returncode == 0

        b = remote.site(tmp_path / "b")
        assert sp("init", cwd=b, env=remote.env).returncode == 0
        link.downloads.clear()
        link.most = 0
        remote.transfers()
        out = tmp_path / "out"
        done = sp("restore", "C5", "--to", out, cwd=b, env=remote.env)
        assert done.returncode == 0, done.stderr
        assert snapshot(out) == snapshot(a, skip=(*EXCLUDED, "later"))
        assert link.most == 4, (link.most, link.downloads)
        assert len(link.downloads) == len(set(link.downloads)) == 6, link.downloads
        received = sum(t["received"] for t in remote.transfers())
        assert received < 6 * 10 * 2000 + 64 * 1024, received  # not the 200 kB of "later"
