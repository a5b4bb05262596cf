"""Which paths a site's rules track, decided path by path the way a scan decides while it
walks: a path is tracked when neither it nor any folder above it is excluded, and no folder
above it is a virtual environment (it holds ``pyvenv.cfg``) that the rules keep excluded.

Import uses it on an archive's members, export on the paths its restore script may remove.
"""

from __future__ import annotations

from collections.abc import Callable

from safepoint.scan.rules import Rules


class Tracker:
    def __init__(self, rules: Rules, *, is_venv: Callable[[str], bool]) -> None:
        self._rules = rules
        self._is_venv = is_venv
        self._dirs: dict[str, bool] = {"": True}

    def tracks(self, path: str, *, is_dir: bool) -> bool:
        if is_dir:
            return self._dir_tracked(path)
        parent = path.rpartition("/")[0]
        return self._dir_tracked(parent) and not self._rules.excluded(path, is_dir=False)

    def _dir_tracked(self, path: str) -> bool:
        known = self._dirs.get(path)
        if known is not None:
            return known
        tracked = (
            self._dir_tracked(path.rpartition("/")[0])
            and not self._rules.excluded(path, is_dir=True)
            and not (self._is_venv(path) and self._rules.excludes_venv(path))
        )
        self._dirs[path] = tracked
        return tracked
