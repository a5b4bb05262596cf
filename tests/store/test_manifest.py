"""Manifest chunking: a small edit shares all but the chunks it touches."""

from __future__ import annotations

from pathlib import Path

import pytest
import zstandard

import safepoint
from safepoint.errors import IntegrityError
from safepoint.model.rows import encode_chunks
from safepoint.store.manifest import chunk_ids, decode_manifest
from tests.helpers import package_tree, sp, sp_json, write


@pytest.mark.slow
def test_ten_edits_in_a_large_tree_store_a_fraction_of_the_manifest(tmp_path: Path) -> None:
    root = package_tree(tmp_path / "site", 40, 100)
    sp("init", cwd=root, check=True)
    sp_json("create", cwd=root)
    for d in range(10):
        write(root / f"pkg{d * 4:02}" / "m050.py", "# edited\n")
    second = sp_json("create", cwd=root)
    with safepoint.open_site(root) as site:
        entries = site.repository.load_manifest(safepoint.find_checkpoint(site, "latest"))
    assert len(entries) == 4040
    whole = sum(len(zstandard.compress(c, 3)) for c, _ in encode_chunks(entries))
    # ten 9-byte blobs, the chunks holding the ten files and their directories, the top blob
    assert second["new_bytes"] < whole / 3, (second["new_bytes"], whole)
    out = tmp_path / "out"
    sp("restore", "latest", "--to", out, cwd=root, check=True)
    assert (out / "pkg04" / "m050.py").read_text() == "# edited\n"


@pytest.mark.parametrize(
    "top",
    [
        b'{"version": 1, "entries": []}',  # never released: one blob, sorted by path
        b'{"version": 2, "count": 0, "chunks": []}',  # never released: chunks sorted by path
        b'{"version": 4, "count": 0, "chunks": []}',  # from a newer safepoint
    ],
)
def test_a_manifest_of_another_version_is_refused(top: bytes) -> None:
    with pytest.raises(IntegrityError, match="manifest of unknown version"):
        decode_manifest(top, lambda _: b"")
    with pytest.raises(IntegrityError, match="manifest of unknown version"):
        chunk_ids(top)
