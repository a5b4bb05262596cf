"""A storage for a repository URL: ``s3://BUCKET/PREFIX`` or a local path."""

from __future__ import annotations

from pathlib import Path

from safepoint.store.backend.base import Storage
from safepoint.store.backend.local import LocalStorage


def open_storage(url: str) -> Storage:
    if url.startswith("s3://"):
        from safepoint.store.backend.s3 import S3Storage

        return S3Storage(url)
    return LocalStorage(Path(url))
