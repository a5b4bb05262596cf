"""A site: its root, configuration, exclude rules and repository, opened together."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from safepoint.config import Config, find_root, load_config
from safepoint.errors import ConfigError, UsageError
from safepoint.progress import NullProgress, Progress
from safepoint.scan.rules import Rules
from safepoint.store.repository import Repository


@dataclass
class Site:
    config: Config
    rules: Rules
    _repo: Repository | None = field(default=None, repr=False)
    # Where the repository reports what its upkeep did when a writer took the lock.
    notify: Callable[[str], None] = field(default=lambda _: None, repr=False)
    # Seconds a writer waits for a remote repository's lock held by another host.
    wait: float = 30.0
    # Where a remote repository shows the bytes of the packs it uploads and downloads.
    transfers: Progress = field(default_factory=NullProgress, repr=False)

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def repository(self) -> Repository:
        if self._repo is None and self.config.url is not None:
            self._open_remote(self.config.url, pull=True)
        if self._repo is None:
            named = self.config.source if self.config.repository_named else None
            self._repo = Repository.open(
                self.config.repository, named_in=named, root=self.root
            )
            self._repo.notify = self.notify
        return self._repo

    def open_unpulled(self) -> Repository:
        """A remote repository's cache, opened without the pull (``repair index``: its index
        may be too damaged for one); a local repository as ``repository``."""
        if self._repo is None and self.config.url is not None:
            self._open_remote(self.config.url, pull=False)
        return self.repository

    def _open_remote(self, url: str, *, pull: bool) -> None:
        from safepoint.ops.remote import open_remote_repository

        self._repo = open_remote_repository(
            url, self.root, wait=self.wait, progress=self.transfers, pull=pull
        )
        self._repo.notify = self.notify

    @property
    def opened_repository(self) -> Repository | None:
        """The repository if a command used it (without opening it otherwise)."""
        return self._repo

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def __enter__(self) -> Site:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_site(root: str | os.PathLike[str] | None = None, *, cwd: Path | None = None) -> Site:
    """Open the site at ``root``, or the one found by walking up from ``cwd`` (default: the
    current directory) to ``safepoint.toml``, and read its configuration. The repository is
    opened on first use (``Site.repository``); use the site as a context manager, or call
    ``close``. Raises ``ConfigError`` (exit code 2) when no site is found or
    ``safepoint.toml`` is invalid."""
    found = find_root(cwd, explicit=root)
    config = load_config(found)
    return Site(config, Rules.for_site(config))


def open_other(
    spec: str,
    *,
    base: Path,
    root: Path,
    create: bool = False,
    wait: float = 30.0,
    progress: Progress | None = None,
) -> Repository:
    """The repository that ``spec`` names, for ``copy --to/--from`` and ``[repository] mirror``:
    a path (relative to ``base``) or an ``s3://`` URL (opened with the passphrase the
    environment gives, through a cache in ``root``'s state folder). With ``create``, a place
    that holds no repository yet becomes one. The one place that turns such a name into a
    repository: the rest of copy and mirror works on any ``Repository``."""
    if not spec:
        raise UsageError("a repository path may not be empty")
    scheme, sep, _ = spec.partition("://")
    if sep:
        if scheme != "s3":
            raise ConfigError(f"{spec}: a repository is a path or an s3://BUCKET/PREFIX URL")
        from safepoint.ops.remote import init_remote, open_remote_repository

        if create:
            init_remote(spec, root)  # joins (checking the passphrase) when one is there
        return open_remote_repository(spec, root, wait=wait, progress=progress)
    path = base / Path(spec).expanduser()
    return Repository.init(path) if create else Repository.open(path)
