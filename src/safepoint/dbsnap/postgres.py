"""PostgreSQL through its own client programs: ``pg_dump``, ``pg_restore``, ``psql``.

The connection is a libpq URL without a password (PGPASSWORD, PGPASSFILE or ~/.pgpass give
it, as for any libpq program). A snapshot is ``pg_dump --format=custom --compress=0`` (not
compressed by pg_dump, so unchanged tables give unchanged bytes that the chunker can find).

A restore never writes into the live database. It restores into a new database
``<name>_sp_new`` (dropped first if a crash left one), and only when that succeeded swaps it
in: new connections to the live database are refused, the remaining ones (the site's) are
ended, and in one transaction the live database is renamed ``<name>_sp_old`` and the new one
takes its name; then the old one is dropped. Any failure before the swap drops the new
database and leaves the live one as it was; the swap itself is one transaction. The site's
connections are ended on purpose: a renamed database keeps its sessions, so a site left
connected would go on writing into the old copy. Django opens a new connection on its next
request.
"""

from __future__ import annotations

import shutil
import subprocess
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from safepoint.errors import OperationalError

NAME_MAX = 63 - len("_sp_new")  # PostgreSQL's identifier limit, with room for the suffix


def database_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def with_database(url: str, name: str) -> str:
    """``url`` naming another database on the same server, as the same user."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(name, safe="")))


def require(*programs: str) -> None:
    """Refuse, before anything changes, when a client program is not installed."""
    for program in programs:
        if shutil.which(program) is None:
            raise OperationalError(
                f"{program} is not installed (PostgreSQL snapshots need the PostgreSQL client "
                "programs: apt-get install postgresql-client); nothing was changed"
            )


def _run(args: list[str], what: str, timeout: float) -> str:
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise OperationalError(f"{what}: {args[0]} took more than {timeout:g}s") from None
    except OSError as exc:
        raise OperationalError(f"{what}: cannot run {args[0]}: {exc.strerror}") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        why = lines[0] if lines else f"exit status {proc.returncode}"
        raise OperationalError(f"{what}: {why}")
    return proc.stdout


def dump(url: str, dest: Path, *, timeout: float) -> None:
    """``pg_dump`` the database of ``url`` into the new file ``dest``."""
    require("pg_dump")
    name = database_name(url)
    _run(
        ["pg_dump", "--format=custom", "--compress=0", f"--file={dest}", f"--dbname={url}"],
        f"cannot snapshot the PostgreSQL database {name}",
        timeout,
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _sql(url: str, sql: str, what: str, timeout: float) -> str:
    """Run ``sql`` connected to the server's ``postgres`` database (never the live one)."""
    maintenance = with_database(url, "postgres")
    return _run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", maintenance, "-c", sql],
        what,
        timeout,
    )


def restore_new(url: str, source: Path, name: str, *, timeout: float) -> None:
    """Restore the dump ``source`` into a new database ``name`` on the server of ``url`` (owned
    like the database of ``url``); on failure it is dropped again."""
    require("pg_restore", "psql")
    live = database_name(url)
    what = f"cannot restore the PostgreSQL database {live} into {name}"
    _sql(url, f"DROP DATABASE IF EXISTS {_ident(name)}", what, timeout)
    owner = _sql(
        url,
        f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = {_literal(live)}",
        what,
        timeout,
    ).strip()
    owned = f" OWNER {_ident(owner)}" if owner else ""
    _sql(url, f"CREATE DATABASE {_ident(name)} TEMPLATE template0{owned}", what, timeout)
    try:
        _run(
            ["pg_restore", "--exit-on-error", f"--dbname={with_database(url, name)}", str(source)],
            what,
            timeout,
        )
    except BaseException:
        # The restore's own error says more; a new database left behind is dropped next time.
        with suppress(OperationalError):
            _sql(url, f"DROP DATABASE IF EXISTS {_ident(name)}", what, timeout)
        raise


def restore_swap(url: str, source: Path, *, timeout: float) -> None:
    """Bring the database of ``url`` to the dump ``source``: restore into a new database, then
    swap it in by renaming (see the module's docstring). The live database changes only in
    the swap's transaction."""
    live = database_name(url)
    base = live[:NAME_MAX]
    new, old = f"{base}_sp_new", f"{base}_sp_old"
    restore_new(url, source, new, timeout=timeout)
    what = f"cannot swap the restored PostgreSQL database in for {live}"
    try:
        _sql(url, f"DROP DATABASE IF EXISTS {_ident(old)}", what, timeout)
        _sql(url, f"ALTER DATABASE {_ident(live)} WITH ALLOW_CONNECTIONS false", what, timeout)
    except BaseException:
        _sql(url, f"DROP DATABASE IF EXISTS {_ident(new)}", what, timeout)
        raise
    try:
        # One transaction: the site's sessions are ended (waiting up to 5 s each), then both
        # renames happen together or not at all.
        _sql(
            url,
            "BEGIN;"
            f"SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            f"WHERE datname = {_literal(live)} AND pid <> pg_backend_pid();"
            f"ALTER DATABASE {_ident(live)} RENAME TO {_ident(old)};"
            f"ALTER DATABASE {_ident(new)} RENAME TO {_ident(live)};"
            "COMMIT;",
            what,
            timeout,
        )
    except BaseException:
        _sql(url, f"ALTER DATABASE {_ident(live)} WITH ALLOW_CONNECTIONS true", what, timeout)
        _sql(url, f"DROP DATABASE IF EXISTS {_ident(new)}", what, timeout)
        raise
    # The old copy is the safety snapshot's content too; dropping it gives its space back.
    _sql(url, f"DROP DATABASE IF EXISTS {_ident(old)}", what, timeout)
