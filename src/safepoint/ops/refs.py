"""Checkpoint references, resolved in this order (the first that matches wins):

1. a full id (64 hexadecimal digits);
2. ``latest``: the newest checkpoint that is not a safety checkpoint (a safety checkpoint holds
   the tree a rollback replaced, usually the broken one);
3. ``good``: the newest known-good checkpoint (one whose newest health mark is good);
4. a unique id prefix of at least 4 hexadecimal digits (more than one match is an error);
5. a label: the newest checkpoint with it.

An id always wins over a label, so a label that looks like an id (an older or imported record)
cannot take over a reference to another checkpoint.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Iterator, Sequence

from safepoint.errors import BadReferenceError
from safepoint.store.records import GOOD, SAFETY, Checkpoint

MIN_PREFIX = 4
ID_LENGTH = 64
RESERVED = ("latest", "good")


def known_good(checkpoints: Iterable[Checkpoint]) -> Iterator[Checkpoint]:
    """The known-good checkpoints, in the given order; a checkpoint marked bad after it was
    marked good is not among them (its mark was replaced)."""
    return (cp for cp in checkpoints if cp.marks.health == GOOD)


def resolve(ref: str, checkpoints: Sequence[Checkpoint]) -> Checkpoint:
    """``checkpoints`` newest first, as ``Repository.checkpoints`` (or, built as looked at,
    ``Repository.listed``) returns them."""
    if not checkpoints:
        raise BadReferenceError("the repository has no checkpoints yet")
    hex_ref = ref.lower() if ref and all(c in string.hexdigits for c in ref) else None
    if hex_ref is not None and len(hex_ref) == ID_LENGTH:
        for cp in checkpoints:
            if cp.id == hex_ref:
                return cp
    if ref == "latest":
        return _latest(checkpoints)
    if ref == "good":
        for cp in known_good(checkpoints):
            return cp
        raise BadReferenceError(
            "no known-good checkpoint (mark one with 'safepoint mark REF good' or "
            "'safepoint create --verify-health')"
        )
    if hex_ref is not None and len(hex_ref) >= MIN_PREFIX:
        matches = [cp for cp in checkpoints if cp.id.startswith(hex_ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise BadReferenceError(
                f"checkpoint reference {ref!r} is ambiguous ({len(matches)} checkpoints start "
                "with it); give more of the id"
            )
    for cp in checkpoints:
        if cp.label == ref:
            return cp
    raise BadReferenceError(f"no checkpoint matches {ref!r} (use an id, a label, latest or good)")


def _latest(checkpoints: Sequence[Checkpoint]) -> Checkpoint:
    for cp in checkpoints:
        if cp.kind != SAFETY:
            return cp
    raise BadReferenceError(
        "'latest' names the newest checkpoint that is not a safety checkpoint, and there is "
        "none; name a safety checkpoint by its id (see 'safepoint list')"
    )
