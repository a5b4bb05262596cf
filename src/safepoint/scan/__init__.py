"""Scanning the site: which paths a checkpoint holds, and what is on disk now.

``rules`` decides what is excluded (defaults, ``safepoint.toml``, ``.safepointignore``, any
virtual environment); ``runtime`` names what is a database or runtime state by its content or
kind (a file starting with the SQLite header, pid files, sockets); ``listing`` lists one
directory with every child's lstat; ``walk`` goes through the tree without following symlinks;
``treecache`` remembers each directory's listing and the hashes of its files, so an unchanged
directory costs one listing and an unchanged file is never read again; ``hashing`` reads a file
for its hash; ``tree`` reads the whole tree with hashes (``read_tree``) and keeps the tree cache.
Scanning only reads the site; what it stores goes through the ``BlobSink`` it is handed
(``model/blobs.py``). An interruption leaves nothing behind here (the tree cache is replaced
atomically).
"""

from safepoint.lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_EXCLUDES": "safepoint.scan.rules",
    "Rules": "safepoint.scan.rules",
    "Tree": "safepoint.scan.tree",
    "ScanResult": "safepoint.scan.walk",
    "read_tree": "safepoint.scan.tree",
    "scan_tree": "safepoint.scan.walk",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, globals(), _EXPORTS)
