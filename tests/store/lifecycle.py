"""Test helpers for the checkpoint lifecycle: forgetting through the real command, and the
packs' size as gc measures it."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import sp


def forget(repo: Path, cid: str) -> None:
    """``safepoint forget ID --force`` on the site whose repository is ``repo`` (the site root
    holds it): the record moves to ``forgotten/``, to be dropped by the next gc."""
    sp("forget", cid, "--force", "--root", repo.parent, check=True)
    assert (repo / "forgotten" / f"{cid}.json").exists()


def packs_bytes(repo: Path) -> int:
    """The packs' bytes on disk, as gc measures them."""
    return sum(p.stat().st_size for p in (repo / "packs").glob("*/*.pack"))
