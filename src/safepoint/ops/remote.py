"""A remote repository (``[repository] url = "s3://BUCKET/PREFIX"``): create or join it
(``init``), open it for a command, and its keys and lock (``key``, ``unlock``).

The passphrase comes from ``SAFEPOINT_PASSWORD``, the file named by
``SAFEPOINT_PASSWORD_FILE``, or a prompt on a terminal (store/backend/keys.py); a wrong one is
one line, exit 2. The endpoint, region and credentials come from the AWS environment only.
Without boto3/cryptography an ``s3://`` URL is refused with ``pip install 'safepoint[s3]'``
(exit 2). Each root keeps a cache repository in its state folder (store/state.py,
store/remote_sync.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safepoint.config import STATE_DIR
from safepoint.errors import UsageError
from safepoint.ops.site import Site
from safepoint.parallel import result_of
from safepoint.progress import Progress
from safepoint.store import state
from safepoint.store.atomic import write_atomic
from safepoint.store.backend.lock import DEFAULT_WAIT

if TYPE_CHECKING:  # imported where used: the s3 extra may be missing
    from safepoint.store.backend.base import Storage
    from safepoint.store.backend.keys import KeySlot, Unwrapped
    from safepoint.store.backend.lock import Holder
    from safepoint.store.backend.remote import Remote
    from safepoint.store.cached import CachedRepository

Prompt = Callable[[str], str]


def _need_extra() -> None:
    from safepoint.store.backend.s3 import require_extra

    require_extra()


def remote_storage(url: str) -> Storage:
    _need_extra()
    from safepoint.store.backend.open import open_storage

    return open_storage(url)


def _passphrase(env: Mapping[str, str] | None, *, confirm: bool, prompt: Prompt | None) -> str:
    from safepoint.store.backend.keys import read_passphrase

    return read_passphrase(os.environ if env is None else env, confirm=confirm, prompt=prompt)


@dataclass(frozen=True)
class Joined:
    url: str
    id: str
    created: bool  # False: an existing repository was joined


def init_remote(
    url: str, root: Path, *, env: Mapping[str, str] | None = None, prompt: Prompt | None = None
) -> Joined:
    """Create an encrypted repository at ``url`` (refusing a service without conditional
    writes), or join the one there (its passphrase must open a key slot); then this root's
    cache of it."""
    from safepoint.store.backend.remote import CONFIG, create_remote

    storage = remote_storage(url)
    if storage.stat(CONFIG) is not None:
        remote = _open(storage, env, prompt)
        created = False
    else:
        remote = create_remote(storage, _passphrase(env, confirm=True, prompt=prompt))
        created = True
    _cache(root, storage, remote).close()
    return Joined(url, remote.id, created)


def _open(storage: Storage, env: Mapping[str, str] | None, prompt: Prompt | None) -> Remote:
    from safepoint.store.backend.remote import open_remote

    return open_remote(storage, _passphrase(env, confirm=False, prompt=prompt))


def _cache(
    root: Path, storage: Storage, remote: Remote, *, wait: float = DEFAULT_WAIT
) -> CachedRepository:
    from safepoint.store.cached import CachedRepository
    from safepoint.store.remote_sync import RemoteSync
    from safepoint.store.repository import Repository

    folder = state.prepare(root, None, remote.id) / "cache"
    Repository.init(folder).close()
    return CachedRepository(folder, RemoteSync(remote.storage, storage, wait=wait))


def open_remote_repository(
    url: str,
    root: Path,
    *,
    wait: float = DEFAULT_WAIT,
    env: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    pull: bool = True,
) -> CachedRepository:
    """The cache repository of ``root`` for ``url``, brought up to date with the remote
    (unless not ``pull``: ``repair index``, whose cache index may be too damaged to);
    ``progress`` shows the bytes of packs uploaded and downloaded."""
    _need_extra()
    passphrase = _passphrase(env, confirm=False, prompt=None)
    copies = _slot_copies(root, url)
    with ThreadPoolExecutor(1) as pool:
        # hashlib.scrypt lets go of the GIL: the slot that opened last time is derived while
        # boto3 loads and the slots are read (open_keys uses it only if that slot is unchanged)
        early = pool.submit(_unwrap_copies, copies, passphrase)
        storage = remote_storage(url)
        from safepoint.store.backend.remote import open_remote

        remote = open_remote(storage, passphrase, early=lambda: result_of(early))
    if remote.slot != copies:
        _save_slot_copies(root, url, remote.slot)
    repo = _cache(root, storage, remote, wait=wait)
    if progress is not None:
        repo.sync.progress = progress
    if pull:
        repo.pull()
    return repo


def _slot_copy_path(root: Path, url: str) -> Path:
    return root / STATE_DIR / f"key-slot-{hashlib.sha256(url.encode()).hexdigest()[:16]}.json"


def _slot_copies(root: Path, url: str) -> dict[str, dict[str, Any]]:
    """The key slot that opened ``url`` last time in this root: a copy of its public document
    (what any reader of the bucket sees), never anything derived from the passphrase."""
    try:
        doc = json.loads(_slot_copy_path(root, url).read_bytes())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) and len(doc) == 1 else {}


def _save_slot_copies(root: Path, url: str, slot: dict[str, dict[str, Any]]) -> None:
    with contextlib.suppress(OSError):  # only a speed-up: a read-only root goes without it
        path = _slot_copy_path(root, url)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        write_atomic(path, json.dumps(slot).encode())


def _unwrap_copies(copies: dict[str, dict[str, Any]], passphrase: str) -> Unwrapped:
    from safepoint.store.backend.keys import unwrap

    return {slot: (doc, unwrap(slot, doc, passphrase)) for slot, doc in copies.items()}


# -- keys and the lock (safepoint key, safepoint unlock) --------------------------------------
NEW_PASSWORD = "SAFEPOINT_NEW_PASSWORD"  # key add: the new slot's passphrase (or _FILE)


def _url_of(site: Site) -> str:
    if site.config.url is None:
        raise UsageError(
            "keys and the remote lock belong to a remote repository: this site's "
            "[repository] has no url"
        )
    return site.config.url


def list_keys(site: Site) -> list[KeySlot]:
    """The key slots (plain JSON: no passphrase needed to list them)."""
    from safepoint.store.backend.keys import list_keys as slots

    return slots(remote_storage(_url_of(site)))


def add_key(
    site: Site, label: str, *, env: Mapping[str, str] | None = None, prompt: Prompt | None = None
) -> str:
    """A new key slot for the repository's master key, opened with the current passphrase;
    the new one from ``SAFEPOINT_NEW_PASSWORD`` (``_FILE``) or a prompt. Returns the slot."""
    from safepoint.store.backend.keys import add_key as add_slot
    from safepoint.store.backend.keys import open_key
    from safepoint.store.backend.lock import RemoteLock

    env = os.environ if env is None else env
    storage = remote_storage(_url_of(site))
    key = open_key(storage, _passphrase(env, confirm=False, prompt=prompt))
    new_env = {
        name.replace("NEW_", ""): value
        for name, value in env.items()
        if name.startswith(NEW_PASSWORD)
    }
    new = _passphrase(new_env, confirm=True, prompt=prompt)
    with RemoteLock(storage, wait=site.wait):
        return add_slot(storage, key, new, label=label)


def remove_key(
    site: Site, slot: str, *, env: Mapping[str, str] | None = None, prompt: Prompt | None = None
) -> None:
    """Remove key slot ``slot`` (never the last one); the passphrase must open the repository."""
    from safepoint.store.backend.keys import open_key
    from safepoint.store.backend.keys import remove_key as remove_slot
    from safepoint.store.backend.lock import RemoteLock

    storage = remote_storage(_url_of(site))
    open_key(storage, _passphrase(env, confirm=False, prompt=prompt))
    with RemoteLock(storage, wait=site.wait):
        remove_slot(storage, slot)


def unlock(site: Site, *, force: bool = False) -> Holder | None:
    """Remove a stale remote lock (a fresh one only with ``force``); the holder it named."""
    from safepoint.store.backend.lock import break_lock

    return break_lock(remote_storage(_url_of(site)), force=force)
