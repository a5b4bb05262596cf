"""``[database]`` in safepoint.toml: each mistake is one line naming the key, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, sp


def test_password_in_url_is_refused_without_printing_it(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    sp("init", cwd=root, check=True)
    (root / "safepoint.toml").write_text(
        '[database]\nengine = "postgresql"\nurl = "postgresql://u:s3cret@db/x"\n'
    )
    proc = sp("create", cwd=root)
    assert_one_line_error(proc, 2)
    assert "s3cret" not in proc.stderr and "PGPASSWORD" in proc.stderr


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('engine = "mysql"', "[database] engine: expected"),
        ('engine = "sqlite"', "[database] path: missing"),
        ('engine = "sqlite"\npath = "a.db"\nurl = "postgresql:///x"', "[database] url: not used"),
        ('engine = "postgresql"', "[database] url: give exactly one"),
        ('engine = "postgresql"\nurl = "mysql://h/x"', "must start with postgresql://"),
        ('engine = "postgresql"\nurl = "postgresql://h"', "must name the database"),
        ('engine = "sqlite"\npath = "a.db"\nsnapshot = "sometimes"', "[database] snapshot:"),
        ('engine = "sqlite"\npath = "a.db"\ntimeout = 0', "[database] timeout: must be greater"),
        ('engine = "sqlite"\npath = "a.db"\ntimeout = inf', "[database] timeout: must be a finite"),
        ('engine = "sqlite"\npath = "a.db"\ncolour = 1', "[database] colour: unknown key"),
    ],
)
def test_bad_database_config_is_one_line(tmp_path: Path, body: str, expected: str) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (root / "safepoint.toml").write_text(f"[database]\n{body}\n")
    proc = sp("status", cwd=root)
    assert_one_line_error(proc, 2)
    assert expected in proc.stderr, proc.stderr
