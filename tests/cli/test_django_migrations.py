"""A code rollback never silently leaves the database ahead of the code (ops/migrations.py),
on a real Django site (tests/django_migrations_site.py) with a real SQLite database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests import django_migrations_site as dj
from tests.helpers import assert_one_line_error, snapshot, sp, sp_json

pytestmark = pytest.mark.slow  # each test runs Django several times (about a second each)

LATER, AT_0001, AT_0003 = dj.LATER, dj.AT_0001, dj.AT_0003
SKIP = (".safepoint", "data")  # the repository and the database: compared separately

FAILING_AT_0001 = dj.health_running("test -f shop/migrations/0003_item_sku.py")


def _site(tmp_path: Path, toml: str = "") -> Path:
    """A site checkpointed (label m1) at 0001, then moved on to 0003 (files and database)."""
    root = dj.build(tmp_path / "site")
    dj.config(root, toml)
    sp("init", cwd=root, check=True)
    sp("create", "--label", "m1", cwd=root, check=True)
    dj.add(root, *LATER)
    dj.migrate(root)
    with (root / "shop/models.py").open("a") as f:
        f.write("# newer code\n")
    assert dj.applied(root) == AT_0003
    return root


def test_checkpoint_records_applied_migrations(tmp_path: Path) -> None:
    root = _site(tmp_path)
    doc = sp_json("show", "m1", cwd=root)
    assert doc["extra"]["migrations"]["applied"] == {
        "shop": ["0001_initial"],
        "blog": ["0001_initial"],
    }
    shown = sp("show", "m1", cwd=root, check=True).stdout
    assert "shop.0001_initial" in shown and "blog.0001_initial" in shown


def test_status_and_diff_say_when_migrations_differ(tmp_path: Path) -> None:
    root = dj.build(tmp_path / "site")
    sp("init", cwd=root, check=True)
    sp("create", "--label", "m1", cwd=root, check=True)
    assert "migrations:" not in sp("status", cwd=root, check=True).stdout
    dj.add(root, "shop/0002_item_price")  # on disk, not applied yet
    status = sp("status", cwd=root, check=True).stdout
    assert "in its files, not applied in the database: shop.0002_item_price" in status
    sp("create", "--label", "m2", cwd=root, check=True)
    diff = sp_json("diff", "m1", "m2", cwd=root)
    assert len(diff["migrations"]) == 1
    assert "shop.0002_item_price" in diff["migrations"][0]
    dj.migrate(root)
    (root / "shop/migrations/0002_item_price.py").unlink()  # the code went back, the db not
    status = sp("status", cwd=root, check=True).stdout
    assert "applied in the database, not in its files: shop.0002_item_price" in status


def test_rollback_refused_when_database_ahead(tmp_path: Path) -> None:
    root = _site(tmp_path)
    before, listed = snapshot(root, skip=SKIP), sp_json("list", cwd=root)
    proc = sp("rollback", "m1", "--yes", cwd=root)
    assert_one_line_error(proc, 2)
    for name in ("shop.0002_item_price", "shop.0003_item_sku", "blog.0002_post_body"):
        assert name in proc.stderr
    for flag in ("--migrate", "--with-db", "--force"):
        assert flag in proc.stderr
    assert "shop.0001_initial" not in proc.stderr
    assert snapshot(root, skip=SKIP) == before
    assert dj.applied(root) == AT_0003
    assert sp_json("list", cwd=root) == listed  # not even a safety checkpoint


def test_migrate_reverses_schema_then_rolls_back_code(tmp_path: Path) -> None:
    root = _site(tmp_path)
    proc = sp("rollback", "m1", "--yes", "--migrate", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert dj.applied(root) == AT_0001
    assert dj.columns(root, "shop_item") == {"id", "name"}
    assert dj.columns(root, "blog_post") == {"id", "title"}
    assert sorted(p.name for p in (root / "shop/migrations").glob("0*.py")) == ["0001_initial.py"]
    assert "newer code" not in (root / "shop/models.py").read_text()
    assert "migrated back" in proc.stderr
    # Nothing is ahead any more: a second rollback needs no flag.
    assert sp("rollback", "m1", "--yes", cwd=root).returncode == 0


def test_irreversible_migration_refuses_before_any_change(tmp_path: Path) -> None:
    root = _site(tmp_path)
    dj.add(root, "shop/0004_fill_sku")
    dj.migrate(root)
    before, applied = snapshot(root, skip=SKIP), dj.applied(root)
    listed = sp_json("list", cwd=root)
    proc = sp("rollback", "m1", "--yes", "--migrate", cwd=root)
    assert_one_line_error(proc, 2)
    assert "shop.0004_fill_sku: RunPython without reverse_code" in proc.stderr
    assert snapshot(root, skip=SKIP) == before
    assert dj.applied(root) == applied
    assert dj.columns(root, "shop_item") == {"id", "name", "price", "sku"}
    assert sp_json("list", cwd=root) == listed


def test_failed_reversal_migrates_forward_again_and_changes_no_file(tmp_path: Path) -> None:
    """blog is reversed first, then shop's reverse raises: blog goes forward again."""
    root = _site(tmp_path)
    dj.add(root, "shop/0004_fail_back")
    dj.migrate(root)
    before, applied = snapshot(root, skip=SKIP), dj.applied(root)
    listed = sp_json("list", cwd=root)
    proc = sp("rollback", "m1", "--yes", "--migrate", cwd=root)
    assert_one_line_error(proc, 1)
    assert "this reverse fails on purpose" in proc.stderr
    assert "migrated forward again and no file was changed" in proc.stderr
    assert dj.applied(root) == applied
    assert dj.columns(root, "blog_post") == {"id", "title", "body"}
    assert snapshot(root, skip=SKIP) == before
    assert sp_json("list", cwd=root) == listed


def test_force_rolls_back_the_code_and_says_what_is_left(tmp_path: Path) -> None:
    root = _site(tmp_path)
    proc = sp("rollback", "m1", "--yes", "--force", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "--force" in proc.stderr and "shop.0003_item_sku" in proc.stderr
    assert dj.applied(root) == AT_0003  # left ahead, as asked, and said
    assert not (root / "shop/migrations/0003_item_sku.py").exists()


def test_migrate_and_force_exclude_each_other(tmp_path: Path) -> None:
    root = _site(tmp_path)
    assert_one_line_error(sp("rollback", "m1", "--yes", "--migrate", "--force", cwd=root), 2)


def test_dry_run_warns(tmp_path: Path) -> None:
    root = _site(tmp_path)
    proc = sp("rollback", "m1", "--dry-run", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "shop.0002_item_price" in proc.stderr
    assert dj.applied(root) == AT_0003
    proc = sp("rollback", "m1", "--dry-run", "--migrate", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "would unapply" in proc.stderr and "migrate shop 0001_initial" in proc.stderr
    assert dj.applied(root) == AT_0003


def test_guard_does_not_roll_back_past_migrations(tmp_path: Path) -> None:
    failing = FAILING_AT_0001.replace("test -f shop/migrations/0003_item_sku.py", "false")
    root = _site(tmp_path, failing)
    sp("mark", "m1", "good", cwd=root, check=True)
    before = snapshot(root, skip=SKIP)
    proc = sp("guard", "--once", "--failures", "1", cwd=root)
    log = proc.stdout + proc.stderr
    assert "cannot roll back safely" in log and "shop.0003_item_sku" in log, log
    assert snapshot(root, skip=SKIP) == before
    assert dj.applied(root) == AT_0003


def test_unhealthy_target_puts_schema_and_files_back(tmp_path: Path) -> None:
    """The health check fails on the target: the undo restores the files, then migrates the
    database forward again with them."""
    root = _site(tmp_path, FAILING_AT_0001)
    before = snapshot(root, skip=SKIP)
    proc = sp("rollback", "m1", "--yes", "--migrate", cwd=root)
    assert proc.returncode == 4, proc.stderr
    assert "migrated forward again" in proc.stderr
    assert dj.applied(root) == AT_0003
    assert dj.columns(root, "shop_item") == {"id", "name", "price", "sku"}
    assert snapshot(root, skip=SKIP) == before


def test_databases_settings_without_password(tmp_path: Path) -> None:
    from safepoint.config import load_config
    from safepoint.django.probe import databases

    root = dj.build(tmp_path / "site")
    (db,) = databases(load_config(root))
    assert db.alias == "default"
    assert db.engine == "django.db.backends.sqlite3"
    assert db.name == str(root / "data" / "site.db")
    assert "never-shown" not in repr(db)


def test_switch_failure_puts_schema_and_files_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up as the files switch (after the schema went back): the files are put
    back, then the database is migrated forward again with them."""
    root = _site(tmp_path)
    before = snapshot(root, skip=SKIP)
    error, warnings = _rollback_failing_switch(root, monkeypatch, undo_fails=False)
    assert "the site was put back as it was" in error
    assert any("migrated forward again" in w for w in warnings), warnings
    assert dj.applied(root) == AT_0003
    assert dj.columns(root, "shop_item") == {"id", "name", "price", "sku"}
    assert snapshot(root, skip=SKIP) == before


def test_switch_and_undo_failing_say_where_the_database_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The undo cannot write the files either: the database is not migrated forward under
    code that does not know its migrations; the error says where it stands and what to run."""
    root = _site(tmp_path)
    error, _ = _rollback_failing_switch(root, monkeypatch, undo_fails=True)
    assert "undoing it failed too" in error
    assert "the files are not back as they were" in error
    assert "the database is at blog.0001_initial, shop.0001_initial" in error
    assert "venv/bin/python manage.py migrate" in error
    assert dj.applied(root) == AT_0001  # left where the reversal put it, and said so


def _rollback_failing_switch(
    root: Path, monkeypatch: pytest.MonkeyPatch, *, undo_fails: bool
) -> tuple[str, list[str]]:
    """Roll back to m1 with --migrate through the Python API, the first switch failing with
    ENOSPC after it renamed everything; with ``undo_fails`` the undo's switch fails at once."""
    import errno

    import safepoint.ops.apply as applying
    import safepoint.ops.rollback as rb
    from safepoint.errors import OperationalError
    from safepoint.ops.migrations import MigrationOptions
    from safepoint.ops.site import open_site

    real, calls = applying.switch, []

    def switch(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 1 or not undo_fails:
            real(*args, **kwargs)  # type: ignore[arg-type]
        if len(calls) == 1 or undo_fails:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(applying, "switch", switch)
    warnings: list[str] = []
    with open_site(root) as site, pytest.raises(OperationalError) as caught:
        rb.rollback(site, "m1", migrations=MigrationOptions(migrate=True), warn=warnings.append)
    return str(caught.value), warnings


def test_rollback_to_code_with_unapplied_migrations(tmp_path: Path) -> None:
    """The target has a migration the database lacks: said without --migrate, applied with."""
    root = dj.build(tmp_path / "site")
    sp("init", cwd=root, check=True)
    dj.add(root, "shop/0002_item_price")  # written, not applied, when m1 is taken
    sp("create", "--label", "m1", cwd=root, check=True)
    (root / "shop/migrations/0002_item_price.py").unlink()
    proc = sp("rollback", "m1", "--yes", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "migrations the database lacks: shop.0002_item_price" in proc.stderr
    assert "venv/bin/python manage.py migrate" in proc.stderr
    assert dj.applied(root) == AT_0001
    proc = sp("rollback", "m1", "--yes", "--migrate", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert dj.applied(root) == AT_0001 | {"shop.0002_item_price"}


def test_missing_sqlite_database_is_not_created(tmp_path: Path) -> None:
    """Asking an absent SQLite database what is applied must not create the file."""
    root = dj.build(tmp_path / "site")
    dj.database(root).unlink()
    sp("init", cwd=root, check=True)
    sp("create", "--label", "m1", cwd=root, check=True)
    assert sp_json("show", "m1", cwd=root)["extra"]["migrations"]["applied"] == {
        "shop": [],
        "blog": [],
    }
    assert "not applied in the database: blog.0001_initial" in sp("status", cwd=root).stdout
    assert not dj.database(root).exists()


def test_with_db_from_django_settings_brings_schema_and_rows_back(tmp_path: Path) -> None:
    """No [database] in safepoint.toml: --with-db takes the database Django's settings name,
    snapshots it with the checkpoint, and a rollback past migrations needs no --migrate."""
    root = dj.build(tmp_path / "site")
    dj.config(root)
    sp("init", cwd=root, check=True)
    import sqlite3

    with sqlite3.connect(dj.database(root)) as db:
        db.execute("INSERT INTO shop_item (name) VALUES ('kept')")
    sp("create", "--label", "m1", "--with-db", cwd=root, check=True)
    assert sp_json("show", "m1", cwd=root)["extra"]["database"]["name"] == "data/site.db"
    dj.add(root, *LATER)
    dj.migrate(root)
    with sqlite3.connect(dj.database(root)) as db:
        db.execute("DELETE FROM shop_item")
    proc = sp("rollback", "m1", "--yes", "--with-db", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert dj.applied(root) == AT_0001
    assert dj.columns(root, "shop_item") == {"id", "name"}
    with sqlite3.connect(dj.database(root)) as db:
        assert db.execute("SELECT name FROM shop_item").fetchall() == [("kept",)]
    assert sp("rollback", "m1", "--yes", "--with-db", "--migrate", cwd=root).returncode == 2


HEALTHY = dj.health_running("true")


def test_run_that_migrates_and_fails_is_undone_with_its_migrations(tmp_path: Path) -> None:
    """A deploy command that adds migrations, applies them, then fails: the rollback of
    'safepoint run' reverses them with the new code before the files go back."""
    root = dj.build(tmp_path / "site")
    dj.config(root, HEALTHY)
    sp("init", cwd=root, check=True)
    staged = dj.build(tmp_path / "staged")  # the newer code, written by the deploy command
    dj.add(staged, *LATER)
    deploy = (
        f"cp {staged}/shop/migrations/0*.py shop/migrations/ && "
        f"cp {staged}/blog/migrations/0*.py blog/migrations/ && "
        "venv/bin/python manage.py migrate --noinput && exit 1"
    )
    before = snapshot(root, skip=SKIP)
    proc = sp("run", "--json", "--", deploy, cwd=root)
    assert proc.returncode == 5, proc.stderr
    assert dj.applied(root) == AT_0001
    assert dj.columns(root, "shop_item") == {"id", "name"}
    assert snapshot(root, skip=SKIP) == before


def test_run_with_db_brings_the_database_back_when_the_change_fails(tmp_path: Path) -> None:
    root = dj.build(tmp_path / "site")
    dj.config(root, HEALTHY)
    sp("init", cwd=root, check=True)
    import sqlite3

    with sqlite3.connect(dj.database(root)) as db:
        db.execute("INSERT INTO shop_item (name) VALUES ('kept')")
    wipe = f"{sys.executable} -c \"import sqlite3; c = sqlite3.connect('data/site.db'); "
    wipe += "c.execute('DELETE FROM shop_item'); c.commit()\" && exit 1"
    proc = sp("run", "--with-db", "--json", "--", wipe, cwd=root)
    assert proc.returncode == 5, proc.stderr
    with sqlite3.connect(dj.database(root)) as db:
        assert db.execute("SELECT name FROM shop_item").fetchall() == [("kept",)]


def test_apps_installed_in_the_sites_venv_are_not_compared(tmp_path: Path) -> None:
    """As met on a real site: Django's own apps (admin, auth, ...) live in the venv inside the
    root, which checkpoints leave out; their applied migrations are not 'ahead' of a target
    that cannot hold them, and a plain rollback goes ahead."""
    root = dj.build(tmp_path / "site")
    vendored = root / "venv" / "lib" / "vendored" / "vendorapp"
    (vendored / "migrations").mkdir(parents=True)
    (vendored / "__init__.py").write_text("")
    (vendored / "models.py").write_text("")
    (vendored / "migrations" / "__init__.py").write_text("")
    (vendored / "migrations" / "0001_initial.py").write_text(
        dj.MIGRATIONS["blog/0001_initial"].replace('name="Post"', 'name="Thing"')
    )
    with (root / "mysite" / "settings.py").open("a") as f:
        f.write('import sys\nsys.path.insert(0, str(BASE_DIR / "venv/lib/vendored"))\n')
        f.write('INSTALLED_APPS = [*INSTALLED_APPS, "vendorapp"]\n')
    dj.migrate(root)
    assert "vendorapp.0001_initial" in dj.applied(root)
    dj.config(root)
    sp("init", cwd=root, check=True)
    sp("create", "--label", "m1", cwd=root, check=True)
    with (root / "shop/models.py").open("a") as f:
        f.write("# newer code\n")
    sp("create", cwd=root, check=True)
    proc = sp("rollback", "m1", "--yes", "--no-health", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "vendorapp" not in proc.stderr
    assert "newer code" not in (root / "shop/models.py").read_text()


def test_a_rollback_that_changes_no_migration_file_does_not_ask_django(tmp_path: Path) -> None:
    """Asking the site's Django costs about a second; a rollback that leaves every migration
    file as it is cannot put the database further ahead, so it is not asked (here it could
    not answer: the interpreter named fails, which a probe would have warned about)."""
    root = dj.build(tmp_path / "site")
    dj.config(root)
    sp("init", cwd=root, check=True)
    sp("create", "--label", "m1", cwd=root, check=True)
    with (root / "shop/models.py").open("a") as f:
        f.write("# newer code\n")
    broken = tmp_path / "broken-python"  # an interpreter that answers nothing
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    dj.config(root, f'[django]\npython = "{broken}"\n')
    proc = sp("rollback", "m1", "--yes", "--no-health", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "cannot read the migrations" not in proc.stderr
    dj.add(root, "shop/0002_item_price")  # now a migration file differs: Django is asked
    proc = sp("rollback", "m1", "--yes", "--no-health", cwd=root)
    assert "cannot read the migrations" in proc.stderr
