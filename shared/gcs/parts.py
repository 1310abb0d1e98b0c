"""A shard's result, recorded as its part of the run's snapshot with a small summary attached.

Each shard records its result once, as ``done/<bucket>/<NNNNNN>.part``: the
shard's snapshot lines, exactly as they appear in the snapshot, created with
``if_generation_match=0``. The object's custom metadata carries the shard's
*summary* (counts, the names that vanished, changed or failed, and the
entries of critical files), so that the completion step reads a few hundred bytes
per shard, never the entries, and composes the snapshot from the parts
(:mod:`shared.gcs.compose`) without reading their bytes.

Part and summary are one object, written in one request: a second delivery
of the shard finds it, or loses the create, and whatever it computed is
dropped, so the summary always describes the bytes beside it. A summary too
large for Cloud Storage's 8 KiB of custom metadata (many failures, long
names) goes to its own object first, named by its digest, and the part's
metadata points at it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import storage
from shared.errors import ConflictError, IntegrityError
from shared.gcs.run import ShardRef, ShardResult, done_path
from shared.gcs.snapshot import JSONL, ObjectEntry
from shared.manifest import RunLocation

if TYPE_CHECKING:
    from google.cloud.storage import Blob, Bucket

SUMMARY_KEY = "dr-summary"
SUMMARY_OBJECT_KEY = "dr-summary-object"
METADATA_BUDGET = 6 * 1024  # bytes of summary kept inline; Cloud Storage allows 8 KiB in all


@dataclass(frozen=True)
class PartSummary:
    """What the completion step needs of one shard: counts, exceptions, critical entries, bytes."""

    objects: int
    bytes: int
    copied: int
    reused: int
    existing: int
    vanished: tuple[str, ...]
    changed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    critical: tuple[ObjectEntry, ...]
    size: int = 0
    crc32c: str | None = None

    @classmethod
    def of(cls, result: ShardResult, critical: Collection[str]) -> PartSummary:
        return cls(
            objects=len(result.entries),
            bytes=sum(entry.size for entry in result.entries),
            copied=result.copied,
            reused=result.reused,
            existing=result.existing,
            vanished=result.vanished,
            changed=result.changed,
            failed=result.failed,
            critical=tuple(e for e in result.entries if e.name in critical),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "bytes": self.bytes,
            "copied": self.copied,
            "reused": self.reused,
            "existing": self.existing,
            "vanished": list(self.vanished),
            "changed": list(self.changed),
            "failed": [list(pair) for pair in self.failed],
            "critical": [entry.to_json() for entry in self.critical],
        }

    @classmethod
    def from_json(cls, data: Any, where: str, size: int, crc32c: str | None) -> PartSummary:
        try:
            return cls(
                objects=int(data["objects"]),
                bytes=int(data["bytes"]),
                copied=int(data["copied"]),
                reused=int(data["reused"]),
                existing=int(data["existing"]),
                vanished=tuple(str(name) for name in data["vanished"]),
                changed=tuple(str(name) for name in data["changed"]),
                failed=tuple((str(name), str(error)) for name, error in data["failed"]),
                critical=tuple(ObjectEntry.from_json(e, where) for e in data["critical"]),
                size=size,
                crc32c=crc32c,
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(
                f"{where}: malformed shard summary ({type(exc).__name__}: {exc})"
            ) from None


def record(bucket: Bucket, shard: ShardRef, result: ShardResult, critical: Collection[str]) -> bool:
    """Create the shard's part with its summary; ``False`` if an earlier delivery recorded it."""
    path = done_path(shard.location, shard.key, shard.index)
    text = json.dumps(
        PartSummary.of(result, critical).to_json(),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    metadata = {SUMMARY_KEY: text}
    if len(text.encode("utf-8")) > METADATA_BUDGET:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
        aside = shard.location.path(f"summaries/{shard.key}/{shard.index:06d}-{digest}.json")
        with contextlib.suppress(ConflictError):  # the same summary, from an attempt that died
            storage.create_json(bucket, aside, json.loads(text), compact=True)
        metadata = {SUMMARY_OBJECT_KEY: aside}
    data = b"".join(entry.line() for entry in result.entries)
    blob = bucket.blob(path)
    blob.metadata = metadata
    try:
        with storage.translate_errors(f"gs://{bucket.name}/{path}"):
            blob.upload_from_string(
                data, content_type=JSONL, if_generation_match=0, retry=storage.retry_policy()
            )
    except ConflictError:
        return False
    if (blob.size, blob.crc32c) != (len(data), storage.crc32c_base64(data)):
        raise IntegrityError(f"gs://{bucket.name}/{path}: stored part differs from what was sent")
    return True


def recorded(bucket: Bucket, shard: ShardRef) -> bool:
    """Whether the shard's part exists (one metadata read)."""
    path = done_path(shard.location, shard.key, shard.index)
    with storage.translate_errors(f"gs://{bucket.name}/{path}"):
        return bucket.get_blob(path, retry=storage.retry_policy()) is not None


def read_summary(bucket: Bucket, location: RunLocation, key: str, index: int) -> PartSummary:
    """The summary of one shard's part, with the part's size and CRC32C."""
    path = done_path(location, key, index)
    where = f"gs://{bucket.name}/{path}"
    with storage.translate_errors(where):
        blob: Blob | None = bucket.get_blob(path, retry=storage.retry_policy())
    if blob is None:
        raise IntegrityError(f"{where} (a shard result) disappeared")
    metadata = blob.metadata or {}
    if SUMMARY_OBJECT_KEY in metadata:
        found = storage.read_json(bucket, metadata[SUMMARY_OBJECT_KEY])
        if found is None:
            raise IntegrityError(f"gs://{bucket.name}/{metadata[SUMMARY_OBJECT_KEY]} is gone")
        data = found[0]
    else:
        try:
            data = json.loads(metadata[SUMMARY_KEY])
        except (KeyError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"{where} has no readable summary ({exc})") from None
    return PartSummary.from_json(data, where, int(blob.size or 0), blob.crc32c)
