"""Objects in an S3-compatible bucket: ``s3://BUCKET/PREFIX`` keeps ``NAME`` as the key
``PREFIX/NAME``.

The endpoint, region and credentials come from the standard AWS environment and files
(``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``~/.aws/config``, ...), never from ``safepoint.toml``.
Request checksums are sent only when an operation requires them (``when_required``): several
S3-compatible services reject the newer default CRC headers. Transient failures (throttling,
5xx, dropped connections) are retried by botocore's "standard" mode, at most ``MAX_ATTEMPTS``
times in all. A streamed put of more than ``PART_SIZE`` bytes is a multipart upload holding
one part in memory at a time; a failed one is aborted.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from importlib.util import find_spec
from typing import Any
from urllib.parse import urlsplit

from safepoint.errors import ConfigError
from safepoint.store.backend.base import (
    Data,
    MissingObjectError,
    ObjectInfo,
    StorageError,
    check_name,
    range_end,
)

PART_SIZE = 8 << 20  # S3's minimum part is 5 MiB; 8 MiB keeps 10,000 parts above 78 GiB
MAX_ATTEMPTS = 5
CONFLICT_RETRIES = 5  # AWS answers 409 to a conditional write racing another one: retry


def parse_url(url: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX`` -> (bucket, prefix without slashes at either end)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"not an S3 repository URL (s3://BUCKET/PREFIX): {url}")
    return parts.netloc, parts.path.strip("/")


def require_extra() -> None:
    """Refuse (exit 2) without the ``s3`` extra (boto3, cryptography), before importing any."""
    if any(find_spec(name) is None for name in ("boto3", "botocore", "cryptography")):
        raise ConfigError("s3:// repositories need the s3 extra: pip install 'safepoint[s3]'")


def _client() -> Any:
    # botocore's own session, not boto3's: the same client, environment and profiles, without
    # loading boto3's transfer manager and resources (a third of a command's start-up).
    require_extra()
    import botocore.session
    from botocore.config import Config

    config = Config(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
    )
    try:
        return botocore.session.get_session().create_client("s3", config=config)
    except Exception as exc:  # a broken profile or config file: botocore's message names it
        raise ConfigError(f"cannot set up the S3 client: {exc}") from None


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code or str(status or "")


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


class S3Storage:
    def __init__(self, url: str, *, client: Any = None) -> None:
        self.url = url
        self.bucket, self.prefix = parse_url(url)
        self._s3 = client if client is not None else _client()
        from botocore.exceptions import BotoCoreError, ClientError

        self._errors: tuple[type[Exception], ...] = (BotoCoreError, ClientError)

    def _key(self, name: str) -> str:
        check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _fail(self, what: str, name: str, exc: Exception) -> StorageError:
        return StorageError(f"{what} {name} in {self.url} failed: {exc}")

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self._s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"][len(base) :], item["Size"], item["ETag"])
        except self._errors as exc:
            raise self._fail("listing", prefix or "/", exc) from None

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        end = range_end(offset, length)
        if length == 0:
            return b""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(name)}
        if offset or end is not None:
            args["Range"] = f"bytes={offset}-{'' if end is None else end - 1}"
        try:
            return bytes(self._s3.get_object(**args)["Body"].read())
        except self._errors as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise MissingObjectError(f"object {name} is missing from {self.url}") from None
            if _code(exc) == "InvalidRange" or _status(exc) == 416:
                return b""  # past the end (or an empty object)
            raise self._fail("reading", name, exc) from None

    def put(self, name: str, data: Data) -> None:
        key = self._key(name)
        if isinstance(data, bytes):
            self._put_object(name, Key=key, Body=data)
            return
        first = data.read(PART_SIZE)
        if len(first) < PART_SIZE:
            self._put_object(name, Key=key, Body=first)
            return
        self._multipart(name, key, first, data)

    def _put_object(self, name: str, **args: Any) -> Any:
        try:
            return self._s3.put_object(Bucket=self.bucket, **args)
        except self._errors as exc:
            raise self._fail("writing", name, exc) from None

    def _multipart(self, name: str, key: str, first: bytes, rest: Any) -> None:
        try:
            upload = self._s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        except self._errors as exc:
            raise self._fail("writing", name, exc) from None
        parts = []
        try:
            piece, number = first, 1
            while piece:
                answer = self._s3.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number, Body=piece
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                piece, number = rest.read(PART_SIZE), number + 1
            self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        except BaseException as exc:
            # On failure the upload stays invisible to readers; a lifecycle rule clears it.
            with contextlib.suppress(*self._errors):
                self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            if isinstance(exc, self._errors):
                raise self._fail("writing", name, exc) from None
            raise

    def put_if_absent(self, name: str, data: bytes) -> bool:
        return self._conditional(name, data, IfNoneMatch="*") is not None

    def put_if_match(self, name: str, data: bytes, tag: str) -> str | None:
        return self._conditional(name, data, IfMatch=tag)

    def _conditional(self, name: str, data: bytes, **condition: str) -> str | None:
        for attempt in range(CONFLICT_RETRIES):
            try:
                answer = self._s3.put_object(
                    Bucket=self.bucket, Key=self._key(name), Body=data, **condition
                )
                return str(answer["ETag"])
            except self._errors as exc:
                if _code(exc) in ("PreconditionFailed", "NoSuchKey") or _status(exc) == 412:
                    return None
                if _code(exc) == "ConditionalRequestConflict" or _status(exc) == 409:
                    time.sleep(0.1 * (attempt + 1))
                    continue
                raise self._fail("writing", name, exc) from None
        raise StorageError(f"writing {name} in {self.url} kept conflicting with other writers")

    def delete(self, name: str) -> None:
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self._key(name))
        except self._errors as exc:
            raise self._fail("deleting", name, exc) from None

    def stat(self, name: str) -> ObjectInfo | None:
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=self._key(name))
        except self._errors as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail("reading", name, exc) from None
        return ObjectInfo(name, int(head["ContentLength"]), str(head["ETag"]))
