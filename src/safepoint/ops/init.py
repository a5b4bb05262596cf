"""``init``: write a commented ``safepoint.toml`` and create the repository. Harmless to repeat:
an existing configuration is kept and an existing repository is opened."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from safepoint.config import CONFIG_NAME, load_config
from safepoint.errors import OperationalError, UsageError
from safepoint.ops.init_app import app_section, find_master
from safepoint.ops.spare import find_runtime
from safepoint.scan.rules import Rules
from safepoint.store.repository import Repository


@dataclass(frozen=True)
class InitResult:
    root: Path
    config_written: bool
    repository: Path | str  # a folder, or the URL of a remote repository
    venvs: tuple[str, ...]
    django: bool
    gunicorn: int | None = None  # the master found running in the site: [app] was filled
    health_url: str | None = None  # the check proposed (commented) on its bind address
    found: tuple[tuple[str, str], ...] = ()  # (path, what): databases, runtime files left out


def init_site(root: Path, *, force: bool = False) -> InitResult:
    """``safepoint init``: write a commented ``safepoint.toml`` in ``root`` (kept if there is
    one already, but checked), create the repository, and report what was found (virtual
    environments, Django, a running gunicorn master, databases and runtime files that are
    left out). ``force``: make a site even inside another site's root (see
    ``_refuse_nested``)."""
    if not root.is_dir():
        raise UsageError(f"site root {root} does not exist or is not a directory")
    if not force:
        _refuse_nested(root)
    venvs = tuple(sorted(p.parent.name for p in root.glob("*/pyvenv.cfg")))
    django = (root / "manage.py").is_file()
    path = root / CONFIG_NAME
    written = not path.exists()
    master = find_master(root) if written else None
    app, url = app_section(root, master)
    if written:
        try:
            path.write_text(config_template(venvs, django, app=app, url=url), encoding="utf-8")
        except OSError as exc:
            raise OperationalError(f"cannot write {path}: {exc.strerror}") from None
    config = load_config(root)  # validates a hand-edited file on a second init
    repository: Path | str = config.repository
    if config.url is not None:
        from safepoint.ops.remote import init_remote

        repository = init_remote(config.url, root).url
    else:
        Repository.init(config.repository, root=root).close()
    found = tuple(find_runtime(root, Rules.for_site(config)))
    return InitResult(
        root,
        written,
        repository,
        venvs,
        django,
        master.pid if master else None,
        url,
        found,
    )


def _refuse_nested(root: Path) -> None:
    """A new site below a folder holding safepoint.toml would be checkpointed by both sites, and
    a rollback of the outer one would rewrite it; most often ``init`` was just run in a
    subfolder of the site by mistake. An existing site (a second ``init``) is not new."""
    if (root / CONFIG_NAME).exists():
        return
    for folder in Path(os.path.realpath(root)).parents:
        if (folder / CONFIG_NAME).is_file():
            raise UsageError(
                f"{root} is inside the site {folder} (it has {CONFIG_NAME}); run safepoint "
                f"there, or pass --force to make {root} a separate site"
            )


def config_template(
    venvs: tuple[str, ...], django: bool, *, app: str = "", url: str | None = None
) -> str:
    python = f"{venvs[0]}/bin/python" if venvs else "python3"
    venv_note = (
        f"# Virtual environment found: {', '.join(venvs)}/ "
        "(excluded: any folder holding pyvenv.cfg)\n"
        if venvs
        else ""
    )
    django_note = "# Django project found (manage.py).\n" if django else ""
    url_note = (
        "# Proposed: a check on the bind address of the gunicorn found above.\n" if url else ""
    )
    check = (
        f'#[[health.command]]\n#run = "{python} manage.py check --deploy --fail-level ERROR"\n'
        if django
        else '#[[health.command]]\n#run = "./healthcheck.sh"\n'
    )
    return f"""\
# safepoint configuration for this site. The site root is the folder holding this file.
{venv_note}{django_note}
[repository]
# Where checkpoints are stored: relative to the site root, or absolute
# (e.g. "/var/backups/safepoint/mysite"). The repository is never part of a checkpoint.
path = ".safepoint"

[files]
# Gitignore-style patterns added to the defaults, which already leave out .git/, virtual
# environments, node_modules/, __pycache__/, *.pyc, media/, logs/, *.log, and databases and
# runtime state by what they are (any SQLite file whatever its name, pid files, sockets).
# "!pattern" re-includes (also a database: "!mydata.db"). A .safepointignore file is read too.
exclude = []

[hooks]
# Commands run in the site root, in order, after a rollback has changed files, e.g.
# after_restore = ["systemctl reload gunicorn"]
after_restore = []

{app}
[health]
# After a rollback the site must pass these checks, or the rollback is undone. Each check is
# tried until it first passes (at most `retries` attempts, `interval` apart), then must keep
# passing for `settle` seconds; all within `deadline` seconds.
timeout = 5      # seconds per attempt (at most 3600)
retries = 10     # attempts before a check counts as failed (at most 1000)
interval = 1.0   # seconds between attempts (at most 86400)
settle = 2       # seconds every check must keep passing after its first pass
deadline = 20    # seconds for the whole proof
{url_note}#[[health.http]]
#url = "{url or "http://127.0.0.1:8000/api/health/"}"
#status = 200
#body_contains = "ok"
{check}"""
