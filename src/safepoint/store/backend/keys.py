"""The master key of an encrypted repository and the key slots that wrap it.

One random 32-byte master key per repository; the keys actually used are derived from it with
HKDF-SHA-256 (``info`` b"safepoint data" for AES-256-GCM, b"safepoint names" for the HMAC of
``content_id``), so the master key itself never touches data. Each key slot is the object
``keys/SLOT`` (SLOT: 16 random hex digits), not encrypted, JSON:

    {"format": "safepoint-key", "version": 1, "kdf": "scrypt", "n": 131072, "r": 8, "p": 1,
     "salt": B64, "nonce": B64, "wrapped": B64, "label": "...", "host": "...", "created": ISO}

``wrapped`` is the master key sealed with AES-256-GCM under scrypt(passphrase, salt, n, r, p)
with associated data b"safepoint-key-slot\\0" + SLOT. scrypt (stdlib ``hashlib.scrypt``) rather
than Argon2id: it is memory-hard too, needs no extra compiled dependency, and its parameters
(n=2**17, r=8: 128 MiB, about half a second) are stored in each slot so that they can be raised
for new slots without breaking old ones. Any slot opens the repository; the last one cannot be
removed. Slots are changed under the repository's write lock (the caller's duty).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from safepoint.errors import FormatError, UsageError
from safepoint.store.backend import crypto
from safepoint.store.backend.base import Storage

PREFIX = "keys/"
FORMAT = "safepoint-key"
VERSION = 1


class PassphraseError(UsageError):
    """No passphrase given, or none of the repository's key slots opens with it (exit 2)."""


@dataclass(frozen=True)
class ScryptParams:
    n: int = 1 << 17
    r: int = 8
    p: int = 1

    def derive(self, passphrase: bytes, salt: bytes) -> bytes:
        maxmem = 256 * self.n * self.r * self.p + (1 << 20)  # 128*n*r*p, with room to spare
        return hashlib.scrypt(
            passphrase, salt=salt, n=self.n, r=self.r, p=self.p, maxmem=maxmem, dklen=32
        )


@dataclass(frozen=True)
class MasterKey:
    master: bytes

    def _derive(self, info: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(self.master)

    @cached_property
    def data_key(self) -> bytes:
        return self._derive(b"safepoint data")

    @cached_property
    def name_key(self) -> bytes:
        return self._derive(b"safepoint names")

    def content_id(self, data: bytes) -> str:
        """The name of a content-addressed object: HMAC-SHA-256 under the name key, so that
        equal content gets equal names without the names revealing the content's SHA-256."""
        return hmac.new(self.name_key, data, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class KeySlot:
    slot: str
    label: str
    host: str
    created: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _aad(slot: str) -> bytes:
    return b"safepoint-key-slot\0" + slot.encode()


def _write_slot(
    storage: Storage, key: MasterKey, passphrase: str, *, label: str, params: ScryptParams
) -> str:
    slot, salt, nonce = secrets.token_hex(8), os.urandom(16), os.urandom(crypto.NONCE)
    kek = params.derive(passphrase.encode(), salt)
    wrapped = crypto.aead(kek).encrypt(nonce, key.master, _aad(slot))
    doc = {
        "format": FORMAT, "version": VERSION, "kdf": "scrypt",
        "n": params.n, "r": params.r, "p": params.p,
        "salt": _b64(salt), "nonce": _b64(nonce), "wrapped": _b64(wrapped),
        "label": label, "host": socket.gethostname(),
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
    }  # fmt: skip
    if not storage.put_if_absent(PREFIX + slot, json.dumps(doc, indent=1).encode() + b"\n"):
        raise FormatError(f"key slot {slot} already exists in {storage.url}")
    return slot


def create_key(
    storage: Storage, passphrase: str, *, label: str = "", params: ScryptParams | None = None
) -> MasterKey:
    """A new master key for a new repository, in its first slot."""
    key = MasterKey(secrets.token_bytes(32))
    _write_slot(storage, key, passphrase, label=label, params=params or ScryptParams())
    return key


def add_key(
    storage: Storage,
    key: MasterKey,
    passphrase: str,
    *,
    label: str = "",
    params: ScryptParams | None = None,
) -> str:
    """Another slot for ``key`` (already opened); returns the slot's name."""
    return _write_slot(storage, key, passphrase, label=label, params=params or ScryptParams())


def _slots(storage: Storage) -> dict[str, dict[str, Any]]:
    slots = {}
    for info in storage.list(PREFIX):
        try:
            doc = json.loads(storage.get(info.name))
        except ValueError:
            continue  # not a slot: it can open nothing
        if isinstance(doc, dict) and doc.get("format") == FORMAT:
            slots[info.name[len(PREFIX) :]] = doc
    return slots


def list_keys(storage: Storage) -> list[KeySlot]:
    return [
        KeySlot(slot, str(doc.get("label", "")), str(doc.get("host", "")), str(doc.get("created")))
        for slot, doc in sorted(_slots(storage).items())
    ]


def remove_key(storage: Storage, slot: str) -> None:
    slots = _slots(storage)
    if slot not in slots:
        raise UsageError(f"no key slot {slot} in {storage.url}")
    if len(slots) == 1:
        raise UsageError(f"key slot {slot} is the last one: add another before removing it")
    storage.delete(PREFIX + slot)


# Slot -> (the slot's document, the master key it opened to with the passphrase, or None): a
# derivation made before the slots were read (ops/remote.py runs it while boto3 loads).
Unwrapped = Mapping[str, tuple[Mapping[str, Any], bytes | None]]


def unwrap(slot: str, doc: Mapping[str, Any], passphrase: str) -> bytes | None:
    """The master key that slot ``slot`` (its document ``doc``) wraps, or None when the
    passphrase does not open it (or it is not a slot this version reads)."""
    from cryptography.exceptions import InvalidTag

    try:
        if doc.get("version") != VERSION or doc.get("kdf") != "scrypt":
            return None
        params = ScryptParams(int(doc["n"]), int(doc["r"]), int(doc["p"]))
        kek = params.derive(passphrase.encode(), base64.b64decode(doc["salt"]))
        nonce, wrapped = base64.b64decode(doc["nonce"]), base64.b64decode(doc["wrapped"])
        return bytes(crypto.aead(kek).decrypt(nonce, wrapped, _aad(slot)))
    except (InvalidTag, KeyError, ValueError, TypeError):
        return None


def open_keys(
    storage: Storage, passphrase: str, *, early: Callable[[], Unwrapped] | None = None
) -> Iterator[tuple[str, dict[str, Any], MasterKey]]:
    """The master key of every slot that the passphrase opens, with the slot and its document
    (normally one key; a slot left by an interrupted ``init`` may wrap another, which the
    caller tells apart by trying it). ``early``: derivations made from copies of slot
    documents, used only for a slot whose document on the storage is the same (a removed or
    replaced slot is never opened from a copy), and tried first."""
    slots = _slots(storage)
    if not slots:
        raise FormatError(f"{storage.url} holds no key slot: not an encrypted repository")
    before = early() if early is not None else {}
    found = False
    for slot in sorted(slots, key=lambda slot: slot not in before):
        doc, known = slots[slot], before.get(slot)
        same = known is not None and known[0] == doc
        master = known[1] if known is not None and same else unwrap(slot, doc, passphrase)
        if master is None:
            continue
        found = True
        yield slot, doc, MasterKey(master)
    if not found:
        raise PassphraseError(f"wrong passphrase: no key slot of {storage.url} opens with it")


def open_key(storage: Storage, passphrase: str) -> MasterKey:
    """The master key from the first slot that the passphrase opens."""
    return next(open_keys(storage, passphrase))[2]


def read_passphrase(
    env: Mapping[str, str],
    *,
    confirm: bool = False,
    prompt: Callable[[str], str] | None = None,
    interactive: bool | None = None,
) -> str:
    """The passphrase from ``SAFEPOINT_PASSWORD``, the file ``SAFEPOINT_PASSWORD_FILE`` (one
    trailing newline dropped), or a prompt on a terminal (twice with ``confirm``)."""
    if "SAFEPOINT_PASSWORD" in env:
        return env["SAFEPOINT_PASSWORD"]
    if env.get("SAFEPOINT_PASSWORD_FILE"):
        path = env["SAFEPOINT_PASSWORD_FILE"]
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise PassphraseError(f"cannot read SAFEPOINT_PASSWORD_FILE {path}: {exc}") from None
        return text.removesuffix("\n")
    if interactive is None:
        interactive = sys.stdin.isatty()
    if not interactive:
        raise PassphraseError(
            "the repository is encrypted: set SAFEPOINT_PASSWORD or SAFEPOINT_PASSWORD_FILE,"
            " or run on a terminal"
        )
    if prompt is None:
        import getpass

        prompt = getpass.getpass
    passphrase = prompt("Repository passphrase: ")
    if confirm and prompt("Repeat the passphrase: ") != passphrase:
        raise PassphraseError("the passphrases do not match")
    if confirm and not passphrase:
        raise PassphraseError("an empty passphrase protects nothing")
    return passphrase
