"""The remote names of a cache's checkpoint records, remembered.

A record's remote name is ``content_id`` (a keyed hash) of its body; a pull compares the remote
listing with the names of every local record. ``record-names.json`` in the cache maps each
record file to its size, mtime and remote name, so that a pull reads and hashes only the records
it has not seen (the cost no longer grows with the catalogue). Losing or damaging the file costs
one recomputation; it holds no secret (the names are in the bucket listing).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from safepoint.store.atomic import write_atomic


def record_names(
    memo_path: Path, folders: Iterable[Path], content_id: Callable[[bytes], str]
) -> list[dict[str, Path]]:
    """Remote name -> file, for the records in each of ``folders``. The name of a record file
    seen before (same file name, size and mtime: records are never rewritten, and moving one
    between folders keeps its mtime) comes from ``memo_path`` instead of reading and hashing
    it again."""
    try:
        memo = json.loads(memo_path.read_bytes())
    except (OSError, ValueError):
        memo = {}
    memo = memo if isinstance(memo, dict) else {}
    out, now = [], {}
    for folder in folders:
        found = {}
        for path in folder.glob("*.json"):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            seen = memo.get(path.name)
            if isinstance(seen, list) and seen[:2] == [st.st_size, st.st_mtime_ns]:
                name = str(seen[2])
            else:
                name = content_id(path.read_bytes())
            now[path.name] = [st.st_size, st.st_mtime_ns, name]
            found[name] = path
        out.append(found)
    if now != memo:
        write_atomic(memo_path, json.dumps(now).encode())
    return out
