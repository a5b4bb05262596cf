"""Scanning the site: which paths a checkpoint holds, and what is on disk now.

``rules`` decides what is excluded (defaults, ``safepoint.toml``, ``.safepointignore``, any
virtual environment); ``walk`` lists the tree without following symlinks; ``statcache`` remembers
the hash of each file by its stat so an unchanged file is never read again. Scanning only reads;
an interruption leaves nothing behind (the stat cache is replaced atomically).
"""

from safepoint.scan.entry import DIR, FILE, SYMLINK, Entry
from safepoint.scan.rules import DEFAULT_EXCLUDES, Rules
from safepoint.scan.walk import ScanResult, scan_tree

__all__ = [
    "DEFAULT_EXCLUDES",
    "DIR",
    "FILE",
    "SYMLINK",
    "Entry",
    "Rules",
    "ScanResult",
    "scan_tree",
]
