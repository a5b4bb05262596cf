"""What moves between a cache and its remote repository: counted (``Transfer``, for tests and
benchmarks) and shown (``Counted``, a file whose reads advance a progress bar)."""

from __future__ import annotations

import json
import os
import threading
from typing import BinaryIO

from safepoint.progress import Progress


class Transfer:
    """Bytes sent and received (``SAFEPOINT_TRANSFER_LOG``: appended as one JSON line when
    the command ends, for tests and benchmarks)."""

    def __init__(self) -> None:
        self.sent = self.received = 0
        self._lock = threading.Lock()

    def add(self, *, sent: int = 0, received: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.received += received

    def report(self) -> None:
        path = os.environ.get("SAFEPOINT_TRANSFER_LOG")
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"sent": self.sent, "received": self.received}) + "\n")


class Counted:
    """A file read for an upload, telling the progress bar how far the reads got."""

    def __init__(self, f: BinaryIO, progress: Progress) -> None:
        self._f, self._progress = f, progress

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self._progress.advance(len(data))
        return data
