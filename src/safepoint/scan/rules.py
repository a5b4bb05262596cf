"""Exclude rules: gitignore syntax through ``pathspec``, in this order (the last match wins):
the defaults, ``[files] exclude`` in ``safepoint.toml``, then ``.safepointignore``.

A directory holding ``pyvenv.cfg`` is a virtual environment and is excluded wherever it is, unless
a user rule re-includes it explicitly (``!venv/``); so is a file that starts with the SQLite header
(``scan/runtime.py``; ``!name`` re-includes it). A symlink is excluded when the rules exclude its
path as a file or as a directory (``media/`` also covers a ``media`` link to another volume).
The repository (by its configured path and resolved through links), any link to it,
the root's state folder ``.safepoint-state``, ``safepoint.toml`` and ``.safepointignore`` are
always excluded, whatever the rules say: a
rollback must never rewrite the tool's own data or the rules it is applying.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from safepoint.config import CONFIG_NAME, IGNORE_NAME, STATE_DIR, Config
from safepoint.errors import ConfigError
from safepoint.scan.runtime import RUNTIME_EXCLUDES

if TYPE_CHECKING:
    import pathspec

DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git/",
    "venv/",
    ".venv/",
    "node_modules/",
    "__pycache__/",
    "*.pyc",
    "*.sqlite3",
    "*.sqlite3-*",
    "*.sqlite",
    "*-journal",
    "*-wal",
    "*-shm",
    "media/",
    "logs/",
    "*.log",
    *RUNTIME_EXCLUDES,
)
# Part of the fingerprint: what is excluded by content or kind (SQLite header, links to the
# repository) changed with it, so checkpoints recorded before are filtered again.
DETECTION = "detect:sqlite,repo-links,symlink-dirs"

# Temporary names that a rollback writes next to the files it replaces; never part of a tree.
TEMP_PREFIX = ".safepoint-tmp-"


class Rules:
    def __init__(
        self, patterns: Sequence[str], *, always: Sequence[str] = (), repository: str | None = None
    ) -> None:
        self._patterns = list(patterns)
        self._always = frozenset(always)
        self.repository = repository
        """The repository's real path (links resolved): a link to it is never recorded."""
        self.fingerprint = hashlib.sha256(
            "\0".join([*patterns, "\1", *sorted(always), "\1", DETECTION]).encode(
                "utf-8", "surrogateescape"
            )
        ).hexdigest()[:16]
        """Identifies the rules: entries recorded under the same rules need no re-filtering."""

    @cached_property
    def _spec(self) -> pathspec.GitIgnoreSpec:
        """The compiled patterns: on first use, as a checkpoint of an unchanged tree never
        asks (its directories come from the tree cache, already filtered)."""
        import pathspec  # here: its import costs more than a quick command's own work

        try:
            return pathspec.GitIgnoreSpec.from_lines(self._patterns)
        except (ValueError, TypeError, re.error) as exc:  # re.error: "[z-a]"
            raise ConfigError(f"bad exclude pattern: {exc}") from None

    @cached_property
    def _name_any(self) -> re.Pattern[str] | None:
        # With only plain name patterns (the defaults and most user rules) a verdict depends on
        # the last component alone, given that a path is asked about only after its parent
        # directory was found not excluded (the walk never descends into an excluded one). Then
        # one regex over the name tells that no pattern matches, for most paths, without
        # pathspec's per-pattern loop; a name it matches gets pathspec's exact evaluation.
        return _name_union(self._spec) if _basename_patterns(self._patterns) else None

    @classmethod
    def for_site(cls, config: Config) -> Rules:
        patterns = [*DEFAULT_EXCLUDES, *config.exclude]
        ignore = config.root / IGNORE_NAME
        if ignore.is_file():
            try:
                patterns += ignore.read_text(
                    encoding="utf-8", errors="surrogateescape"
                ).splitlines()
            except OSError as exc:
                raise ConfigError(f"{ignore}: cannot read: {exc.strerror}") from None
        always = [CONFIG_NAME, IGNORE_NAME]
        repo = _relative_inside(config.repository, config.root)
        if repo is not None:
            always.append(repo)
        # The configured path itself, when it is a link (.safepoint -> /other/disk/sp).
        named = os.path.relpath(os.path.abspath(config.repository), os.path.abspath(config.root))
        if named != ".." and not named.startswith("../"):
            always.append(named.replace(os.sep, "/"))
        return cls(patterns, always=always, repository=os.path.realpath(config.repository))

    def excluded(self, rel: str, *, is_dir: bool) -> bool:
        """Whether ``rel`` is excluded; ask only about paths whose parent is not excluded."""
        return self.excluded_name(rel, rel.rpartition("/")[2], is_dir)

    def excluded_name(self, rel: str, name: str, is_dir: bool) -> bool:
        """``excluded`` for a caller that has the last component at hand (the walk)."""
        if name.startswith(TEMP_PREFIX) or rel in self._always or rel == STATE_DIR:
            return True
        if self._name_any is not None and not self._name_any.match(name + "/" if is_dir else name):
            return False
        return self._spec.match_file(rel + "/" if is_dir else rel)

    # STATE_DIR is not in the fingerprint: no tree recorded before it existed held it.

    def own(self, rel: str, name: str) -> bool:
        """Whether ``rel`` is the tool's own (repository, configuration, temporary file)."""
        return name.startswith(TEMP_PREFIX) or rel in self._always or rel == STATE_DIR

    def leads_to_repository(self, path: str) -> bool:
        """Whether ``path``, resolved through links, is the repository or inside it."""
        if self.repository is None:
            return False
        real = os.path.realpath(path)
        return real == self.repository or real.startswith(self.repository + os.sep)

    def reincluded(self, rel: str) -> bool:
        """Whether a user rule re-includes ``rel`` by name (``!bakerydemodb``): then a file
        that is a database by its content is kept all the same."""
        return self._spec.check_file(rel).include is False

    def excludes_venv(self, rel: str) -> bool:
        """Whether a virtual environment at ``rel`` stays excluded (no ``!`` rule re-includes
        it)."""
        return self._spec.check_file(rel + "/").include is not False


def _basename_patterns(lines: Sequence[str]) -> bool:
    """Whether every pattern is a plain name pattern (no "/" but a trailing one), which matches
    a path by its last component alone."""
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        text = text.removeprefix("!").removeprefix("\\").rstrip("/")
        if "/" in text:
            return False
    return True


_ANY_PREFIX = "^(?:.+/)?"
_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


def _name_union(spec: pathspec.GitIgnoreSpec) -> re.Pattern[str] | None:
    """A regex matching a name (``name/`` for a directory) that any pattern could match, built
    from pathspec's own compiled patterns; None when a pattern is not of the expected form."""
    parts = []
    for pattern in spec.patterns:
        if pattern.include is None:
            continue
        regex = getattr(pattern, "regex", None)
        if regex is None or not regex.pattern.startswith(_ANY_PREFIX):
            return None
        parts.append(_GROUP.sub("(?:", regex.pattern[len(_ANY_PREFIX) :]))
    try:
        return re.compile("|".join(f"(?:{p})" for p in parts) or "(?!)")
    except re.error:
        return None


def _relative_inside(path: Path, root: Path) -> str | None:
    try:
        rel = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    except ValueError:
        return None
    if rel == ".":
        raise ConfigError(f"the repository {path} cannot be the site root itself")
    if rel == ".." or rel.startswith("../"):
        return None
    return rel.replace(os.sep, "/")
