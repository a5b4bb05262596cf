"""A real PostgreSQL server for the database snapshot tests, and small SQLite sites.

The server is Debian's ``postgresql`` package (``.ci/run`` installs it): a cluster made with
``initdb`` in a temporary folder, listening on a Unix socket there only (no TCP port to clash
with a parallel run), started once per test session (per worker) and stopped afterwards. As
root (CI), the server runs as the ``postgres`` user, which the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import sp


@dataclass(frozen=True)
class PgServer:
    socket_dir: Path
    user: str

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@/{dbname}?host={self.socket_dir}"

    def psql(self, dbname: str, sql: str) -> str:
        proc = subprocess.run(
            [
                "psql",
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.url(dbname),
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def databases(self) -> set[str]:
        return set(self.psql("postgres", "SELECT datname FROM pg_database").split())


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    bindir = _bindir()
    if bindir is None or shutil.which("pg_dump") is None or shutil.which("psql") is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql postgresql-client)")
    as_root = os.geteuid() == 0
    # Not under pytest's tmp folder: that is mode 0700 for root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="sp-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    user = "postgres" if as_root else os.environ.get("USER", "postgres")

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync")
    ctl = str(bindir / "pg_ctl")
    run(
        ctl,
        "-D",
        str(data),
        "-l",
        str(base / "log"),
        "-w",
        "-t",
        "60",
        "-o",
        f"-k {sock} -c listen_addresses='' -c fsync=off",
        "start",
    )
    try:
        yield PgServer(sock, user)
    finally:
        run(ctl, "-D", str(data), "-m", "immediate", "-w", "-t", "60", "stop")
        shutil.rmtree(base, ignore_errors=True)


def sqlite_rows(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, v FROM t ORDER BY id").fetchall()


def sqlite_site(tmp_path: Path, *, rows: int = 500, extra: str = "") -> Path:
    """An initialised site with ``data/site.db`` (table t of ``rows`` rows) in [database]."""
    root = tmp_path / "site"
    (root / "data").mkdir(parents=True)
    (root / "app.py").write_text("VERSION = 1\n")
    db = sqlite3.connect(root / "data" / "site.db")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    db.executemany("INSERT INTO t (v) VALUES (?)", [(f"row {i}",) for i in range(rows)])
    db.commit()
    db.close()
    sp("init", cwd=root, check=True)
    # Written whole: init's file has a [health] table that ``extra`` may want to give.
    (root / "safepoint.toml").write_text(
        f'[database]\nengine = "sqlite"\npath = "data/site.db"\n{extra}'
    )
    return root
