"""A lock taker in its own process (``python -m tests.store.backend.lockholder URL WAIT``):
prints ``held`` once it holds the lock, or ``refused: MESSAGE`` and exits with the error's code;
holds it until a line arrives on stdin (or stdin closes, or 60 s pass), then releases it."""

from __future__ import annotations

import select
import sys

from safepoint.errors import SafepointError
from safepoint.store.backend.lock import RemoteLock
from safepoint.store.backend.open import open_storage


def main() -> int:
    url, wait = sys.argv[1], float(sys.argv[2])
    lock = RemoteLock(open_storage(url), wait=wait)
    try:
        lock.acquire()
    except SafepointError as exc:
        print(f"refused: {exc}", flush=True)
        return int(exc.exit_code)
    print("held", flush=True)
    select.select([sys.stdin], [], [], 60)
    lock.release()
    print("released", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
