"""A real Django project with migrations, for the tests of the migration rule (ops/migrations.py).

``build(root)`` writes a site with two apps, ``shop`` and ``blog``, at migration 0001 each, a
SQLite database in ``data/site.db`` (excluded from checkpoints by its content), and a
``venv/`` that the site's interpreter is found in: ``venv/pyvenv.cfg`` and a ``venv/bin/python``
that execs the interpreter running the tests (which has Django), so finding the site's
interpreter is exercised without building a virtual environment. ``add(root, *names)`` writes
later migrations; ``migrate(root)`` applies them with the site's ``manage.py``; ``applied`` and
``columns`` read the database directly (sqlite3), not through safepoint.

Migrations: shop 0001_initial (Item: name), 0002_item_price (AddField), 0003_item_sku (AddField
and a RunPython with a reverse), 0004_fill_sku (RunPython without reverse_code: irreversible),
or 0004_fail_back (a reverse that raises: reversible on paper, fails when run);
blog 0001_initial (Post: title), 0002_post_body (AddField).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

HEAD = "from django.db import migrations, models\n\n\n"

LATER = ("shop/0002_item_price", "shop/0003_item_sku", "blog/0002_post_body")
AT_0001 = {"shop.0001_initial", "blog.0001_initial"}
AT_0003 = AT_0001 | {"shop.0002_item_price", "shop.0003_item_sku", "blog.0002_post_body"}


def health_running(command: str) -> str:
    """A quick ``[health]`` table whose one check runs ``command`` in the site root (``test -f``
    of a migration file: healthy only with the code at or past that migration)."""
    return f"""\
[health]
timeout = 5
retries = 1
interval = 0
settle = 0
deadline = 10
[[health.command]]
run = "{command}"
"""


MIGRATIONS = {
    "shop/0001_initial": HEAD
    + """class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50)),
            ],
        ),
    ]
""",
    "shop/0002_item_price": HEAD
    + """class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("item", "price", models.IntegerField(default=0)),
    ]
""",
    "shop/0003_item_sku": HEAD
    + """def fill(apps, schema_editor):
    apps.get_model("shop", "Item").objects.update(sku="none")


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_item_price")]
    operations = [
        migrations.AddField("item", "sku", models.CharField(max_length=20, default="")),
        migrations.RunPython(fill, reverse_code=migrations.RunPython.noop),
    ]
""",
    "shop/0004_fill_sku": HEAD
    + """def fill(apps, schema_editor):
    apps.get_model("shop", "Item").objects.update(sku="filled")


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_item_sku")]
    operations = [migrations.RunPython(fill)]
""",
    "shop/0004_fail_back": HEAD
    + """def forward(apps, schema_editor):
    pass


def back(apps, schema_editor):
    raise RuntimeError("this reverse fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_item_sku")]
    operations = [migrations.RunPython(forward, reverse_code=back)]
""",
    "blog/0001_initial": HEAD
    + """class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Post",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("title", models.CharField(max_length=50)),
            ],
        ),
    ]
""",
    "blog/0002_post_body": HEAD
    + """class Migration(migrations.Migration):
    dependencies = [("blog", "0001_initial")]
    operations = [
        migrations.AddField("post", "body", models.TextField(default="")),
    ]
""",
}

SETTINGS = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "test-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["shop", "blog"]
ROOT_URLCONF = "mysite.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "data" / "site.db",
        "PASSWORD": "never-shown",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
"""

MANAGE = """\
#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""


def build(root: Path) -> Path:
    """A Django site at ``root`` with both apps at 0001, migrated; returns ``root``."""
    files = {
        "manage.py": MANAGE,
        "mysite/__init__.py": "",
        "mysite/settings.py": SETTINGS,
        "mysite/urls.py": "urlpatterns = []\n",
        "venv/pyvenv.cfg": f"home = {Path(sys.executable).parent}\n",
        "venv/bin/python": f'#!/bin/sh\nexec {sys.executable} "$@"\n',
        "data/.keep": "",
    }
    for app in ("shop", "blog"):
        files[f"{app}/__init__.py"] = ""
        files[f"{app}/models.py"] = "# the models follow the migrations\n"
        files[f"{app}/migrations/__init__.py"] = ""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "venv/bin/python").chmod(0o755)
    add(root, "shop/0001_initial", "blog/0001_initial")
    migrate(root)
    return root


def add(root: Path, *names: str) -> None:
    """Write migrations (``"shop/0002_item_price"``) into the site."""
    for name in names:
        app, _, migration = name.partition("/")
        (root / app / "migrations" / f"{migration}.py").write_text(MIGRATIONS[name])


def migrate(root: Path, *args: str) -> None:
    subprocess.run(
        [str(root / "venv/bin/python"), "manage.py", "migrate", *args, "--noinput"],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=120,
    )


def database(root: Path) -> Path:
    return root / "data" / "site.db"


def applied(root: Path) -> set[str]:
    """``app.name`` of every migration recorded in the database (read directly)."""
    with sqlite3.connect(database(root)) as db:
        return {f"{a}.{n}" for a, n in db.execute("SELECT app, name FROM django_migrations")}


def columns(root: Path, table: str) -> set[str]:
    with sqlite3.connect(database(root)) as db:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def config(root: Path, extra: str = "") -> None:
    """safepoint.toml for the site (the defaults, plus ``extra``)."""
    (root / "safepoint.toml").write_text(textwrap.dedent(extra))
