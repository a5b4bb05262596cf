"""One exception hierarchy; each class carries the exit code the CLI returns for it.

Exit codes (the command-line contract): 0 success, 1 operational error, 2 bad usage, bad config
or bad reference, 3 integrity failure, 4 health checks failed, 5 a guarded change (``run``,
``change()``) failed and was rolled back, 6 a change failed and rolling it back failed too.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    INTEGRITY = 3
    UNHEALTHY = 4
    CHANGE_ROLLED_BACK = 5  # a guarded change failed; the site is back at its checkpoint
    CHANGE_ROLLBACK_FAILED = 6  # a guarded change failed, and putting it back failed too


class SafepointError(Exception):
    """An expected failure: the CLI prints it as one line and exits with ``exit_code``."""

    exit_code: ExitStatus = ExitStatus.ERROR


class OperationalError(SafepointError):
    """The operation could not be carried out (I/O, permissions, a changing file)."""


class LockedError(OperationalError):
    """Another safepoint process holds the repository's write lock."""


class UsageError(SafepointError):
    exit_code = ExitStatus.USAGE


class ConfigError(UsageError):
    """``safepoint.toml`` is missing, malformed or holds an unknown key or a wrong type."""


class BadReferenceError(UsageError):
    """A checkpoint reference names no checkpoint, or more than one."""


class FormatError(UsageError):
    """The repository is not one, or of a format version this safepoint does not know."""


class IntegrityError(SafepointError):
    """Stored data is missing or does not match its hash."""

    exit_code = ExitStatus.INTEGRITY


class UnhealthyError(SafepointError):
    """Health checks failed."""

    exit_code = ExitStatus.UNHEALTHY


class PendingRecoveryError(OperationalError):
    """An interrupted rollback left a journal; only ``safepoint recover`` may change the site."""
