"""A slow link in front of a test S3 server: a real HTTP proxy on 127.0.0.1 that forwards every
request unchanged (and notes it) and holds each download of a pack for ``delay`` seconds (the
round trip of a distant service), counting how many such downloads were in flight at once."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.helpers import serving
from tests.store.backend.servers import Server


@dataclass
class Link:
    server: Server  # the proxy, as a server the tests point safepoint at
    delay: float
    downloads: list[str] = field(default_factory=list)  # pack object paths, in order
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path), all
    in_flight: int = 0
    most: int = 0  # the most pack downloads in flight at once
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def slow_link(upstream: Server, *, delay: float) -> Iterator[Link]:
    target = urlsplit(upstream.endpoint)
    link: Link

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            pack = self.command == "GET" and "/packs/" in self.path
            with link.lock:
                link.requests.append((self.command, self.path))
            if pack:
                with link.lock:
                    link.downloads.append(self.path)
                    link.in_flight += 1
                    link.most = max(link.most, link.in_flight)
                time.sleep(link.delay)
            try:
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                answer = conn.getresponse()
                data = answer.read()
                conn.close()
            finally:
                if pack:
                    with link.lock:
                        link.in_flight -= 1
            self.send_response(answer.status)
            head = self.command == "HEAD"  # its Content-Length is the object's: kept
            for name, value in answer.getheaders():
                dropped = ("transfer-encoding", "connection") + (
                    () if head else ("content-length",)
                )
                if name.lower() not in dropped:
                    self.send_header(name, value)
            if not head:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    with serving(Handler) as url:  # no request comes before the link is set: after the yield
        link = Link(Server(url, upstream.key, upstream.secret), delay)
        yield link
