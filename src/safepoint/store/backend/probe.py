"""Whether a storage service honours conditional writes, tested the only sure way: by trying.

The lock (``lock``) and every object that must never be overwritten rely on put-if-absent and
put-if-match being refused when their condition fails. Some S3-compatible servers accept the
headers and ignore them; on such a service two hosts could both believe they hold the lock.
``init`` runs ``check_conditional_writes`` and refuses the service.
"""

from __future__ import annotations

import secrets

from safepoint.store.backend.base import Storage, UnsupportedStorageError


def check_conditional_writes(storage: Storage) -> None:
    name = f"probe-{secrets.token_hex(8)}"
    try:
        if not storage.put_if_absent(name, b"first"):
            raise UnsupportedStorageError(f"{storage.url}: a new probe object was refused")
        second = storage.put_if_absent(name, b"second")
        kept = storage.get(name) == b"first"
        replaced = storage.put_if_match(name, b"third", '"00000000000000000000000000000000"')
    finally:
        storage.delete(name)
    if second or not kept or replaced is not None:
        failed = "If-None-Match" if second or not kept else "If-Match"
        raise UnsupportedStorageError(
            f"{storage.url} does not honour conditional writes ({failed} was ignored): two"
            " hosts could overwrite each other's objects; use a service that does (AWS S3,"
            " MinIO, Cloudflare R2, Ceph RGW, ...)"
        )
