"""``fleet rollback REF --migrate`` on two real Django hosts that share one SQLite database: the
first host reverses the migrations REF does not know; when the run stops, putting the fleet back
migrates the shared database forward again with the code put back."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests import django_migrations_site as dj
from tests.fleet.fleetsite import controller_env, make_inventory
from tests.helpers import snapshot, sp, sp_json

pytestmark = pytest.mark.slow  # Django runs several times on each host

SKIP = ("safepoint.toml", ".safepoint-state", "data")


def _health(repository: Path, needs: str) -> str:
    """The host's own toml: the shared repository, and a check that wants ``needs`` on disk."""
    return f'[repository]\npath = "{repository}"\n\n' + dj.health_running(f"test -f {needs}")


def _applied(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT app, name FROM django_migrations").fetchall()
    conn.close()
    return {f"{app}.{name}" for app, name in rows}


def test_a_migrate_run_that_stops_migrates_the_shared_database_forward_again(
    tmp_path: Path,
) -> None:
    shared, repository = tmp_path / "shared.db", tmp_path / "repository"
    web1 = dj.build(tmp_path / "hosts" / "web1")
    settings = web1 / "mysite" / "settings.py"  # both hosts use the one database
    settings.write_text(
        settings.read_text().replace('BASE_DIR / "data" / "site.db"', repr(str(shared)))
    )
    dj.migrate(web1)
    dj.config(web1, _health(repository, "shop/migrations/0001_initial.py"))
    sp("init", cwd=web1, check=True)
    sp("create", "--label", "m1", cwd=web1, check=True)
    dj.add(web1, *dj.LATER)
    dj.migrate(web1)
    assert _applied(shared) == dj.AT_0003
    web2 = tmp_path / "hosts" / "web2"
    shutil.copytree(web1, web2, symlinks=True, ignore=shutil.ignore_patterns(*SKIP))
    # web2 is healthy only with the newer code: m1 fails there, in the second batch.
    dj.config(web2, _health(repository, "shop/migrations/0003_item_sku.py"))
    sp("init", cwd=web2, check=True)
    before = {h: snapshot(r, skip=SKIP) for h, r in (("web1", web1), ("web2", web2))}
    inventory = make_inventory(tmp_path / "inventory.ini", {"web1": web1, "web2": web2})

    proc = sp(
        "fleet",
        "rollback",
        "m1",
        "--inventory",
        str(inventory),
        "--yes",
        "--migrate",
        "--batches",
        "1,100%",
        env=controller_env(tmp_path),
        timeout=600,
    )
    assert proc.returncode == 4, (proc.stdout, proc.stderr)
    assert {h: snapshot(r, skip=SKIP) for h, r in (("web1", web1), ("web2", web2))} == before
    # web1 reversed shop 0002-0003 and blog 0002 for m1; the code put back needs them again.
    assert _applied(shared) == dj.AT_0003
    assert sp_json("status", cwd=web1)["clean"]
