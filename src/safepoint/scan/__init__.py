"""Scanning the site: which paths a checkpoint holds, and what is on disk now.

``rules`` decides what is excluded (defaults, ``safepoint.toml``, ``.safepointignore``, any
virtual environment); ``runtime`` names what is a database or runtime state by its content or
kind (a file starting with the SQLite header, pid files, sockets); ``listing`` lists one
directory with every child's lstat; ``walk`` goes through the tree without following symlinks;
``treecache`` remembers each directory's listing and the hashes of its files, so an unchanged
directory costs one listing and an unchanged file is never read again. Scanning only reads; an
interruption leaves nothing behind (the tree cache is replaced atomically).
"""

from safepoint.lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_EXCLUDES": "safepoint.scan.rules",
    "Rules": "safepoint.scan.rules",
    "ScanResult": "safepoint.scan.walk",
    "scan_tree": "safepoint.scan.walk",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, globals(), _EXPORTS)
