"""Shared test helpers: running the installed ``safepoint`` command, building trees, and taking
exact snapshots of a tree to compare."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SAFEPOINT = str(Path(sys.executable).with_name("safepoint"))


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on a free port of 127.0.0.1 answering with ``handler``, in a thread;
    yields its base URL and stops it on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def command_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment for the command, without ``SAFEPOINT_ROOT``, plus ``env``."""
    full = {k: v for k, v in os.environ.items() if k != "SAFEPOINT_ROOT"}
    full.update(env or {})
    return full


def sp(
    *args: str | os.PathLike[str],
    cwd: Path | None = None,
    check: bool = False,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed command; the result's stdout/stderr are text."""
    proc = subprocess.run(
        [SAFEPOINT, *map(os.fspath, args)],
        cwd=cwd,
        env=command_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input if input is not None else "",
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"safepoint {args} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def on_terminal(
    *args: str | os.PathLike[str],
    answer: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the installed command with stdin and stdout on a pseudo-terminal and type ``answer``
    to its prompt; the result's stdout is what the terminal showed, its stderr was a pipe."""
    leader, follower = os.openpty()
    try:
        proc = subprocess.Popen(
            [SAFEPOINT, *map(os.fspath, args)],
            cwd=cwd,
            env=command_env(env),
            stdin=follower,
            stdout=follower,
            stderr=subprocess.PIPE,
        )
        os.write(leader, answer.encode())
        _, err = proc.communicate(timeout=timeout)
        screen = os.read(leader, 65536).decode(errors="replace")
    finally:
        os.close(leader)
        os.close(follower)
    return subprocess.CompletedProcess(proc.args, proc.returncode, screen, err.decode())


def sp_json(*args: str | os.PathLike[str], cwd: Path | None = None) -> Any:
    proc = sp(*args, "--json", cwd=cwd, check=True)
    return json.loads(proc.stdout)


PROGRESS = ("safepoint: health: ", "safepoint: app: ")
"""Lines a health proof prints per attempt and reload step when stderr is not a terminal."""


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith(PROGRESS)]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("safepoint: ")


def snapshot(root: Path, *, skip: tuple[str, ...] = ()) -> dict[bytes, tuple[Any, ...]]:
    """Everything that a round trip must keep, per path (as bytes): type, mode, owner, size,
    mtime (files and links), content hash or link target. The root's state folder
    (``.safepoint-state``, the tool's own, never part of a checkpoint) is left out."""
    skip = (*skip, ".safepoint-state")
    out: dict[bytes, tuple[Any, ...]] = {}
    broot = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(broot):
        rel_dir = os.path.relpath(dirpath, broot)
        for name in list(dirnames):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if any(rel == os.fsencode(s) or rel.startswith(os.fsencode(s) + b"/") for s in skip):
                dirnames.remove(name)
        for name in dirnames + filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if any(rel == os.fsencode(s) or rel.startswith(os.fsencode(s) + b"/") for s in skip):
                continue
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(path), st.st_uid, st.st_gid, st.st_mtime_ns)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                out[rel] = (
                    "f",
                    stat.S_IMODE(st.st_mode),
                    st.st_uid,
                    st.st_gid,
                    st.st_size,
                    st.st_mtime_ns,
                    digest,
                )
            else:
                out[rel] = ("special",)
    return out


def state_dir(root: Path) -> Path:
    """Where ``root`` keeps its journal, head and tree cache (store/state.py): its state folder
    for a repository outside it, else the repository ``.safepoint``."""
    folders = list((root / ".safepoint-state").glob("*"))
    assert len(folders) <= 1, folders
    return folders[0] if folders else root / ".safepoint"


def write(path: Path, content: str | bytes = "", *, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    if mode is not None:
        os.chmod(path, mode)
    return path


def package_tree(root: Path, dirs: int, files: int) -> Path:
    """``dirs`` folders ``pkgNN`` of ``files`` small modules ``mNNN.py`` each: a tree large
    enough that a manifest has many chunks."""
    for d in range(dirs):
        for f in range(files):
            write(root / f"pkg{d:02}" / f"m{f:03}.py", f"# {d} {f}\n")
    return root


def make_site(root: Path) -> Path:
    """A small site with every kind of entry a checkpoint must keep, and every default
    exclusion, so that one tree exercises both."""
    write(root / "manage.py", "#!/usr/bin/env python\nprint('manage')\n", mode=0o755)
    write(root / "eventsite" / "settings.py", "SECRET_KEY = 'x'\n", mode=0o600)
    write(root / "eventsite" / "urls.py", "urlpatterns = []\n")
    write(root / "templates" / "base.html", "<html>{% block content %}{% endblock %}</html>\n")
    write(root / "static" / "big.bin", os.urandom(3 * 1024 * 1024 + 17))
    write(root / "static" / "empty.txt", b"")
    write(root / "run.sh", "#!/bin/sh\necho run\n", mode=0o750)
    (root / "empty_dir" / "nested_empty").mkdir(parents=True)
    os.symlink("eventsite/settings.py", root / "settings_link")
    os.symlink("does/not/exist", root / "dangling_link")
    os.symlink("templates", root / "dir_link")
    os.makedirs(os.fsencode(root) + b"/caf\xe9", exist_ok=True)
    with open(os.fsencode(root) + b"/caf\xe9/men\xfc.txt", "wb") as f:
        f.write(b"latin-1 named file\n")
    os.chmod(root / "templates", 0o750)
    # excluded by default
    write(root / "venv" / "pyvenv.cfg", "home = /usr/bin\n")
    write(root / "venv" / "lib" / "x.py", "x = 1\n")
    write(root / "tools" / "env2" / "pyvenv.cfg", "home = /usr/bin\n")
    write(root / "tools" / "env2" / "bin" / "python", "fake\n")
    write(root / "tools" / "keep.py", "kept\n")
    write(root / "db.sqlite3", b"SQLite format 3\x00")
    write(root / "db.sqlite3-journal", b"j")
    write(root / "media" / "uploads" / "photo.jpg", os.urandom(1000))
    write(root / "logs" / "access.log", "GET /\n")
    write(root / "error.log", "boom\n")
    write(root / "eventsite" / "__pycache__" / "settings.cpython-311.pyc", b"\x00pyc")
    write(root / "node_modules" / "left-pad" / "index.js", "module.exports = 1\n")
    write(root / ".git" / "HEAD", "ref: refs/heads/main\n")
    return root


EXCLUDED = (
    "venv",
    "tools/env2",
    "db.sqlite3",
    "db.sqlite3-journal",
    "media",
    "logs",
    "error.log",
    "eventsite/__pycache__",
    "node_modules",
    ".git",
    ".safepoint",
    "safepoint.toml",
)
