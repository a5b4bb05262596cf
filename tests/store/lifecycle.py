"""Test helpers for the checkpoint lifecycle. ``forget_by_rename`` does exactly what
``safepoint forget`` does to the repository (branch life): the record moves by rename from
``checkpoints/ID.json`` to ``forgotten/ID.json``, bytes unchanged, marks left in place. Once
``forget`` is merged, this is the one place to switch to it."""

from __future__ import annotations

import os
from pathlib import Path


def forget_by_rename(repo: Path, cid: str) -> None:
    (repo / "forgotten").mkdir(mode=0o700, exist_ok=True)
    os.rename(repo / "checkpoints" / f"{cid}.json", repo / "forgotten" / f"{cid}.json")


def packs_bytes(repo: Path) -> int:
    """The packs' bytes on disk, as gc measures them."""
    return sum(p.stat().st_size for p in (repo / "packs").glob("*/*.pack"))
