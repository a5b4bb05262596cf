"""Creating and opening an encrypted repository's storage: the steps ``init`` and every command
will take on an ``s3://`` URL once the repository is built on this layer.

Creating one: refuse a service that ignores conditional writes (``probe``), refuse a place that
already holds a repository (``init`` joins it instead: ``open_remote``), write the first key
slot, then the sealed object ``config``:

    {"format": "safepoint-repository", "version": 2, "id": "<32 random hex digits>",
     "encryption": "aes-256-gcm"}

with put-if-absent, so that of two hosts running ``init`` at once one creates the repository and
the other, finding ``config`` written, removes its own key slot and is told to join.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from safepoint.errors import FormatError, IntegrityError, UsageError
from safepoint.store.backend.base import Storage
from safepoint.store.backend.encrypted import EncryptedStorage
from safepoint.store.backend.keys import (
    PREFIX,
    MasterKey,
    ScryptParams,
    Unwrapped,
    add_key,
    open_keys,
)
from safepoint.store.backend.probe import check_conditional_writes

CONFIG = "config"
FORMAT = "safepoint-repository"
VERSION = 2


@dataclass(frozen=True)
class Remote:
    storage: EncryptedStorage
    id: str
    # The key slot that opened it, with its (public) document: empty when just created.
    slot: dict[str, dict[str, Any]] = field(default_factory=dict)


class ExistingRepositoryError(UsageError):
    """``init`` on a place that already holds a repository: join it instead."""


def create_remote(
    storage: Storage, passphrase: str, *, params: ScryptParams | None = None
) -> Remote:
    check_conditional_writes(storage)
    if storage.stat(CONFIG) is not None:
        raise ExistingRepositoryError(f"{storage.url} already holds a repository: join it")
    key = MasterKey(secrets.token_bytes(32))
    slot = add_key(storage, key, passphrase, label="init", params=params)
    sealed = EncryptedStorage(storage, key)
    repo_id = secrets.token_hex(16)
    doc = {"format": FORMAT, "version": VERSION, "id": repo_id, "encryption": "aes-256-gcm"}
    if not sealed.put_if_absent(CONFIG, json.dumps(doc).encode() + b"\n"):
        storage.delete(PREFIX + slot)  # wraps a key nothing uses (not the winner's slot)
        raise ExistingRepositoryError(
            f"{storage.url} was made a repository by another host just now: join it"
        )
    return Remote(sealed, repo_id)


def open_remote(
    storage: Storage, passphrase: str, *, early: Callable[[], Unwrapped] | None = None
) -> Remote:
    """The repository at ``storage``, opened with the passphrase (``early``: see
    ``keys.open_keys``); ``Remote.slot`` names the key slot that opened it."""
    if storage.stat(CONFIG) is None:
        raise FormatError(f"{storage.url} holds no safepoint repository")
    doc = None
    for slot, slot_doc, key in open_keys(storage, passphrase, early=early):
        sealed = EncryptedStorage(storage, key)
        try:
            doc = json.loads(sealed.get(CONFIG))
            opened = {slot: slot_doc}
            break
        except IntegrityError:
            continue  # a slot of an interrupted init: another master key
        except ValueError:
            raise FormatError(f"{storage.url}: the repository's config is unreadable") from None
    if doc is None:
        raise IntegrityError(
            f"{storage.url}: the passphrase opens a key slot, but the repository's config does"
            " not open with its key (damaged)"
        )
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FormatError(f"{storage.url} is not a safepoint repository")
    if doc.get("version") != VERSION:
        raise FormatError(
            f"{storage.url} is a repository of format version {doc.get('version')}; this"
            f" safepoint reads version {VERSION}"
        )
    return Remote(sealed, str(doc["id"]), opened)
