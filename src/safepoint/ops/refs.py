"""Checkpoint references: a full id, a unique id prefix (4+ characters), a label (the newest
checkpoint with it), ``latest``, or ``good`` (the newest known-good)."""

from __future__ import annotations

import string

from safepoint.errors import BadReferenceError
from safepoint.store.records import GOOD, Checkpoint

MIN_PREFIX = 4
RESERVED = ("latest", "good")


def resolve(ref: str, checkpoints: list[Checkpoint]) -> Checkpoint:
    """``checkpoints`` newest first, as ``Repository.checkpoints`` returns them."""
    if not checkpoints:
        raise BadReferenceError("the repository has no checkpoints yet")
    if ref == "latest":
        return checkpoints[0]
    if ref == "good":
        for cp in checkpoints:
            if cp.marks.health == GOOD:
                return cp
        raise BadReferenceError("no known-good checkpoint (create one with --verify-health)")
    for cp in checkpoints:
        if cp.id == ref or cp.label == ref:
            return cp
    if len(ref) >= MIN_PREFIX and all(c in string.hexdigits for c in ref):
        matches = [cp for cp in checkpoints if cp.id.startswith(ref.lower())]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise BadReferenceError(
                f"checkpoint reference {ref!r} is ambiguous "
                f"({len(matches)} checkpoints start with it)"
            )
    raise BadReferenceError(f"no checkpoint matches {ref!r} (use an id, a label, latest or good)")
