"""Cloud Storage helpers: streaming uploads and downloads, writes with preconditions.

Two rules hold everywhere:

* Writes that *commit* something (a manifest, a lock, a status record) use a
  generation precondition: ``if_generation_match=0`` to create, or the
  generation that was read to replace. A lost race is a :class:`ConflictError`,
  never a silent overwrite.
* Retries go through one named default, :func:`retry_policy` (python-storage's
  own default: exponential backoff on 429/5xx and connection errors). The
  library applies it to idempotent calls only; a write without a precondition
  is not retried.

Streaming uploads compute size, SHA-256 and CRC32C of exactly the bytes sent,
and after the upload compare the CRC32C with what Cloud Storage stored: an
artifact in a manifest is known to be the bytes that were written.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import (
    ConflictError,
    IntegrityError,
    NotFound,
    PermissionDenied,
    SourceUnavailable,
)

if TYPE_CHECKING:
    from google.api_core.retry import Retry
    from google.cloud.storage import Blob, Bucket

UPLOAD_CHUNK_SIZE = 16 * 1024 * 1024  # a multiple of 256 KiB, as resumable uploads require
DOWNLOAD_CHUNK_SIZE = 8 * 1024 * 1024


@functools.cache
def retry_policy() -> Retry:
    """The one retry default for idempotent Cloud Storage calls."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    retry: Retry = DEFAULT_RETRY
    return retry


def crc32c_base64(data: bytes) -> str:
    """CRC32C as Cloud Storage reports it: big-endian, base64."""
    import google_crc32c

    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode("ascii")


class Checksums:
    """Incremental size, SHA-256 and CRC32C of a byte stream."""

    def __init__(self) -> None:
        import google_crc32c

        self.size = 0
        self._sha256 = hashlib.sha256()
        self._crc32c = google_crc32c.Checksum()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.size += len(data)
        self._sha256.update(data)
        self._crc32c.update(bytes(data))

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def crc32c(self) -> str:
        return base64.b64encode(self._crc32c.digest()).decode("ascii")


@dataclass(frozen=True)
class StoredObject:
    """What was written: enough to list the object in a manifest and to verify it later."""

    name: str
    generation: int
    size: int
    sha256: str
    crc32c: str


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn client-library exceptions into :mod:`shared.errors` classes naming ``what``."""
    from google.api_core import exceptions

    try:
        yield
    except exceptions.PreconditionFailed as exc:
        raise ConflictError(f"{what}: changed concurrently (precondition failed)") from exc
    except exceptions.NotFound as exc:
        raise NotFound(f"{what}: not found ({exc.message})") from exc
    except (exceptions.Forbidden, exceptions.Unauthorized) as exc:
        raise PermissionDenied(f"{what}: permission denied ({exc.message})") from exc
    except (exceptions.ServerError, exceptions.TooManyRequests) as exc:
        raise SourceUnavailable(f"{what}: Cloud Storage unavailable ({exc.message})") from exc
    except (ConnectionError, TimeoutError) as exc:
        raise SourceUnavailable(f"{what}: Cloud Storage unreachable ({exc})") from exc


def _encode(payload: Any, compact: bool = False) -> bytes:
    """Indented for records people read (manifests, status); compact for bulk work files,
    which the indented encoder (pure Python) would make several times slower to write."""
    if compact:
        text = json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    else:
        text = json.dumps(payload, indent=1, sort_keys=True, ensure_ascii=False)
    return text.encode("utf-8")


def create_json(
    bucket: Bucket,
    name: str,
    payload: Any,
    *,
    compact: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Create ``name`` only if it does not exist; returns its generation.

    Raises :class:`ConflictError` when it exists: that is how a manifest commits
    exactly once and a lock is taken by exactly one caller. ``metadata`` is
    stored with the object (e.g. who wrote it, to tell a retried create of
    one's own from another writer's).
    """
    blob = bucket.blob(name)
    if metadata:
        blob.metadata = dict(metadata)
    with translate_errors(f"gs://{bucket.name}/{name}"):
        blob.upload_from_string(
            _encode(payload, compact),
            content_type="application/json",
            if_generation_match=0,
            retry=retry_policy(),
        )
    return int(blob.generation or 0)


def replace_json(bucket: Bucket, name: str, payload: Any, generation: int) -> int:
    """Replace ``name`` only if it is still at ``generation``; returns the new generation."""
    blob = bucket.blob(name)
    with translate_errors(f"gs://{bucket.name}/{name}"):
        blob.upload_from_string(
            _encode(payload),
            content_type="application/json",
            if_generation_match=generation,
            retry=retry_policy(),
        )
    return int(blob.generation or 0)


def read_json(bucket: Bucket, name: str) -> tuple[Any, int] | None:
    """The parsed object and its generation, or ``None`` if it does not exist."""
    blob = bucket.blob(name)
    try:
        with translate_errors(f"gs://{bucket.name}/{name}"):
            data = blob.download_as_bytes(retry=retry_policy())
    except NotFound:
        return None
    try:
        return json.loads(data), int(blob.generation or 0)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"gs://{bucket.name}/{name} is not valid JSON: {exc}") from None


def delete(bucket: Bucket, name: str, generation: int | None = None) -> bool:
    """Delete ``name`` (that generation, when given); ``False`` if it was already gone."""
    from google.api_core import exceptions

    try:
        bucket.blob(name).delete(if_generation_match=generation, retry=retry_policy())
    except exceptions.NotFound:
        return False
    except exceptions.PreconditionFailed as exc:
        raise ConflictError(
            f"gs://{bucket.name}/{name} changed before it could be deleted"
        ) from exc
    return True


class ChecksummingWriter(io.RawIOBase):
    """Writes through to an upload while checksumming what passes."""

    def __init__(self, sink: io.BufferedIOBase) -> None:
        self._sink = sink
        self.checksums = Checksums()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._sink.write(view)
        self.checksums.update(view)
        return len(view)


@contextlib.contextmanager
def upload_stream(
    bucket: Bucket, name: str, content_type: str, result: list[StoredObject]
) -> Iterator[ChecksummingWriter]:
    """A resumable upload of unknown length that never touches local disk.

    The object is created only if the block completes: on an exception the
    upload session is cancelled and nothing appears at ``name``. On success the
    stored CRC32C is compared with the bytes sent, and a :class:`StoredObject`
    is appended to ``result``.
    """
    blob = bucket.blob(name)
    where = f"gs://{bucket.name}/{name}"
    with translate_errors(where):
        sink = blob.open(
            "wb",
            chunk_size=UPLOAD_CHUNK_SIZE,
            ignore_flush=True,
            if_generation_match=0,
            content_type=content_type,
            retry=retry_policy(),
        )
        with sink:
            writer = ChecksummingWriter(sink)
            yield writer
        blob.reload(retry=retry_policy())
    sums = writer.checksums
    if blob.crc32c != sums.crc32c or blob.size != sums.size:
        raise IntegrityError(
            f"{where}: stored object ({blob.size} bytes, crc32c {blob.crc32c}) differs from "
            f"what was sent ({sums.size} bytes, crc32c {sums.crc32c})"
        )
    result.append(
        StoredObject(name, int(blob.generation or 0), sums.size, sums.sha256, sums.crc32c)
    )


def open_download(bucket: Bucket, name: str, generation: int | None = None) -> io.BufferedIOBase:
    """A streaming reader of one object generation (bounded memory, retried ranged reads)."""
    blob: Blob = bucket.blob(name, generation=generation)
    with translate_errors(f"gs://{bucket.name}/{name}"):
        reader: io.BufferedIOBase = blob.open(
            "rb", chunk_size=DOWNLOAD_CHUNK_SIZE, retry=retry_policy()
        )
    return reader
