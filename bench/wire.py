"""What crosses the wire to the S3 server, measured the same way for every tool.

:class:`CountingRelay` is a plain TCP relay on 127.0.0.1 in front of the server: every tool is
pointed at the relay, and it counts the bytes each way (HTTP headers included, since that is
what a link to a real S3 endpoint carries). It relays bytes without parsing them, so
keep-alive connections, ranged GETs and multipart uploads pass as they are. safepoint also
counts its own payload (``SAFEPOINT_TRANSFER_LOG``); restic has no such count, which is why
both are measured here. :func:`bucket_bytes` is what a bucket stores (the sum of its objects'
sizes), for the growth of each tool's repository.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CHUNK = 256 << 10


@dataclass(frozen=True)
class Traffic:
    up: int  # client to server: requests, uploads
    down: int  # server to client: responses, downloads

    def __sub__(self, other: Traffic) -> Traffic:
        return Traffic(self.up - other.up, self.down - other.down)


class CountingRelay:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._up = self._down = 0
        self._open: set[socket.socket] = set()
        self._closed = False

    def traffic(self) -> Traffic:
        with self._lock:
            return Traffic(self._up, self._down)

    def _count(self, up: int = 0, down: int = 0) -> None:
        with self._lock:
            self._up += up
            self._down += down

    def serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed: the relay is shutting down
                return
            try:
                server = socket.create_connection(self._target, timeout=30)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            threading.Thread(target=self._connection, args=(client, server), daemon=True).start()

    def _connection(self, client: socket.socket, server: socket.socket) -> None:
        upward = threading.Thread(target=self._pump, args=(client, server, True), daemon=True)
        upward.start()
        self._pump(server, client, False)
        upward.join()
        with self._lock:
            self._open.difference_update((client, server))
        client.close()
        server.close()

    def _pump(self, src: socket.socket, dst: socket.socket, upward: bool) -> None:
        try:
            while data := src.recv(CHUNK):
                # Counted before it is passed on: once a client has a byte, so has the count.
                self._count(up=len(data)) if upward else self._count(down=len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            # Half-close so the other direction can finish, as the peers did.
            for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                with suppress(OSError):
                    sock.shutdown(how)

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            socks, self._open = self._open, set()
        for sock in socks:
            sock.close()


@contextmanager
def counting_relay(upstream: str) -> Iterator[CountingRelay]:
    relay = CountingRelay(upstream)
    thread = threading.Thread(target=relay.serve, daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.close()
        thread.join(5)


def bucket_bytes(s3: Any, bucket: str) -> int:
    """The sum of the sizes of every object in ``bucket`` (what the provider bills as stored)."""
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        total += sum(obj["Size"] for obj in page.get("Contents", []))
    return total
