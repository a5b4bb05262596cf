"""Real S3 API servers on 127.0.0.1 for the storage tests: moto in server mode (enforces
conditional writes) and ``rclone serve s3`` (ignores them). Each is a subprocess on a free port,
stopped when the test session ends."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Server:
    endpoint: str
    key: str
    secret: str

    def env(self, config_dir: Path) -> dict[str, str]:
        """The standard AWS variables that point boto3 at this server (and at no real
        profile or credentials file of the machine)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(config_dir / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "aws-credentials"),
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(argv: list[str], port: int, log: Path) -> Iterator[str]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited at start: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[0]} did not listen on {port}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def moto_server(workdir: Path) -> Iterator[Server]:
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with running(argv, port, workdir / "moto.log") as endpoint:
        yield Server(endpoint, "testing", "testing")


@contextmanager
def rclone_server(workdir: Path) -> Iterator[Server]:
    """``rclone serve s3`` over a local directory; its buckets are that directory's folders."""
    port = free_port()
    data = workdir / "rclone-data"
    data.mkdir()
    key, secret = "SAFEPOINTTESTKEY", "safepoint-test-secret-0123456789"
    argv = [
        str(BIN / "rclone"), "serve", "s3", "--addr", f"127.0.0.1:{port}",
        "--auth-key", f"{key},{secret}", "--config", os.devnull, str(data),
    ]  # fmt: skip
    with running(argv, port, workdir / "rclone.log") as endpoint:
        yield Server(endpoint, key, secret)


@functools.cache
def _admin(server: Server) -> Any:
    """One client per server for making buckets (a boto3 client takes a second to build)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.key,
        aws_secret_access_key=server.secret,
        region_name="us-east-1",
    )


def new_bucket(server: Server) -> str:
    """A bucket of its own for one test (tests may run in parallel on one server)."""
    name = f"sp-{uuid.uuid4().hex[:16]}"
    _admin(server).create_bucket(Bucket=name)
    return name
