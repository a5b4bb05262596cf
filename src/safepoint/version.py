"""The version of safepoint, in a module of its own so that any layer can name it (an archive
records it, the restore script prints it) without importing the package root and its API."""

__version__ = "0.1.0"
