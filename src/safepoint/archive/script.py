"""The standalone restore script written beside an exported archive.

It is POSIX ``sh`` and needs only ``sh``, ``tar``, ``gzip`` or ``zstd`` and ``sha256sum``
(``curl`` for the health checks), so an archive can be checked and restored years later with
safepoint gone. What it does, and above all what it may remove, is stated in its header
comment (``SCRIPT`` in ``script_text.py``: the sh text that this module fills in). Every value
from a record, the configuration or the file system is put in as a single-quoted sh word, and
text shown in comments or messages has its control characters escaped, so that no value (a
hostile imported record, say) can break out of its comment line or its quotes;
``render_restore_script`` then checks that the header is still comment lines only. The backup
the script makes is created 0600 (umask 077): it holds the site's secrets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from safepoint.archive.dbmember import SCRIPT_PART, DatabaseMember, script_values
from safepoint.archive.layout import GZIP, META_DIR, META_FILES, label_of
from safepoint.archive.paths import display, printable
from safepoint.archive.script_text import SCRIPT
from safepoint.config import HealthConfig
from safepoint.errors import OperationalError
from safepoint.store.records import Checkpoint

LIST_END = "SAFEPOINT_END_OF_LIST"
MAX_SECONDS = 86400.0
MAX_RETRIES = 1000
SCRIPT_HEAD = 8192  # the script names its archive within its first bytes (ARCHIVE=...)


@dataclass(frozen=True)
class ScriptInfo:
    script_name: str
    archive_name: str
    sha256: str
    fmt: str
    site_root: str
    repository: str | None  # the repository's path inside the site root, if it is inside
    checkpoint: Checkpoint
    health: HealthConfig
    hooks: tuple[str, ...]
    removals: Sequence[tuple[str, str]]  # (kind "f"/"d"/"l", path), deepest first
    version: str  # of the safepoint that writes the script
    database: DatabaseMember | None = None  # the snapshot member, when the archive has one


def render_restore_script(info: ScriptInfo) -> bytes:
    cp = info.checkpoint
    gzip = info.fmt == GZIP
    values = {
        "VERSION": info.version,
        "SCRIPT_C": _comment(info.script_name),
        "ARCHIVE_C": _comment(info.archive_name),
        "LABEL_C": _comment(label_of(cp)),
        "ROOT_C": _comment(info.site_root),
        "CPID_C": _comment(cp.id),
        "CPID": sh_quote(cp.id),
        "CREATED_C": _comment(cp.created),
        "TOOL": "gzip" if gzip else "zstd",
        "EXT": "tar.gz" if gzip else "tar.zst",
        "ARCHIVE": sh_quote(info.archive_name),
        "SHA256": sh_quote(info.sha256),
        "ROOT": sh_quote(info.site_root),
        "REPOSITORY": sh_quote(info.repository or ""),
        "LABEL": sh_quote(printable(label_of(cp))),
        "COMPRESS": "gzip -c" if gzip else "zstd -q -c",
        "DECOMPRESS": "gzip -dc" if gzip else "zstd -q -dc",
        "META": sh_quote(META_DIR),
        "META_FILES": " ".join(META_FILES),
        "TIMEOUT": sh_quote(_number(_seconds(info.health.timeout))),
        "RETRIES": sh_quote(str(max(1, min(int(info.health.retries), MAX_RETRIES)))),
        "INTERVAL": sh_quote(str(math.ceil(_seconds(info.health.interval)))),
        "HOOKS": _calls("run_hook", [[h] for h in info.hooks]),
        "CHECKS": _calls(
            "check_http",
            [[c.url, str(c.status), c.body_contains or ""] for c in info.health.http],
        ),
        "HAS_HOOKS": "1" if info.hooks else "0",
        "HAS_CHECKS": "1" if info.health.http else "0",
        "END": LIST_END,
        **script_values(info.database, sh_quote),
    }
    text = SCRIPT.replace("@DB_PART@", SCRIPT_PART)
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    # A name holding a newline cannot be one line of the list: such a path is never removed.
    listing = "".join(f"{kind} {path}\n" for kind, path in info.removals if "\n" not in path)
    _check_header(text)
    return text.replace("@LIST@", listing).encode("utf-8", "surrogateescape")


def sh_quote(value: str) -> str:
    """``value`` as one single-quoted sh word (any bytes, newlines included, stay literal)."""
    return "'" + value.replace("'", "'\\''") + "'"


def _comment(value: str) -> str:
    return display(value)[1:-1]


def _seconds(value: float) -> float:
    """A duration the script can pass to curl and sleep: finite, 0 to a day."""
    return min(max(value, 0.0), MAX_SECONDS) if math.isfinite(value) else MAX_SECONDS


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.3f}".rstrip("0")


def _check_header(text: str) -> None:
    """The header is comment lines only, up to ``set -u``: a value that broke out of its
    comment would be run by any invocation, even ``--help``. Never write such a script."""
    head, found, _ = text.partition("\nset -u\n")
    lines = head.split("\n")
    if not found or any(not line.startswith("#") for line in lines if line):
        raise OperationalError(
            "refusing to write a restore script whose header is not only comments (a value "
            "escaped its comment line); please report this"
        )


def _calls(function: str, calls: list[list[str]]) -> str:
    lines = [f"    {function} " + " ".join(sh_quote(a) for a in args) for args in calls]
    return "\n".join(lines) if lines else "    :"
