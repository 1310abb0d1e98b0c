"""What a snapshot records for each source object, and where the object's bytes are kept.

A snapshot is one JSON line per source object, sorted by name as Cloud Storage
lists them. Each line carries everything a restore needs to recreate the
object exactly (bytes by reference, checksums to verify them, the metadata to
set) and nothing that Cloud Storage assigns by itself (times, generations of
the restored object).

Copies are keyed by source bucket, *source generation* and name. Cloud Storage
never reuses a generation for different bytes of the same object, so a copy
path, once written and verified, is immutable: two runs (or two deliveries of
one shard) that copy the same generation write the same object, and a later
snapshot can point at an earlier run's copy without copying again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.errors import IntegrityError
from shared.gcs import properties

if TYPE_CHECKING:
    from google.cloud.storage import Blob

COPIES_PREFIX = "gcs-objects/"
MAX_OBJECT_NAME_BYTES = 1024
JSONL = "application/x-ndjson"

# The listing fields a snapshot entry is built from (a smaller response than the default),
# listed with ``projection=full`` so that ACLs come too where the caller may read them.
LIST_FIELDS = (
    "items(name,generation,size,crc32c,md5Hash,contentType,contentEncoding,contentLanguage,"
    "contentDisposition,cacheControl,customTime,metadata,storageClass,temporaryHold,"
    "eventBasedHold,kmsKeyName,acl(entity,role)),nextPageToken"
)
LIST_PROJECTION = "full"
# Keys only exact entries have: an entry without them comes from an older snapshot.
EXACT_KEYS = ("custom_time", "storage_class", "temporary_hold", "event_based_hold", "kms_key_name")


def copy_path(bucket: str, generation: int, name: str) -> str:
    """Where the bytes of ``gs://bucket/name#generation`` are kept in the backup bucket.

    The object name stays readable; only when the result would exceed Cloud
    Storage's 1024-byte name limit is it replaced by its SHA-256, under a
    ``<generation>.sha256`` folder that no plain generation number can equal.
    """
    path = f"{COPIES_PREFIX}{bucket}/{generation}/{name}"
    if len(path.encode("utf-8")) <= MAX_OBJECT_NAME_BYTES:
        return path
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    return f"{COPIES_PREFIX}{bucket}/{generation}.sha256/{digest}"


@dataclass(frozen=True)
class ObjectEntry:
    """One source object as of the listing, and the path of its copy."""

    name: str
    generation: int
    size: int
    crc32c: str | None
    md5: str | None
    copy: str
    content_type: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    content_disposition: str | None = None
    cache_control: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    custom_time: str | None = None
    storage_class: str | None = None
    temporary_hold: bool | None = None
    event_based_hold: bool | None = None
    kms_key_name: str | None = None
    acl: properties.Acl | None = None
    exact: bool = False  # every property recorded, absent ones as absent

    @classmethod
    def from_blob(cls, bucket: str, blob: Blob) -> ObjectEntry:
        generation = int(blob.generation or 0)
        return cls(
            name=blob.name,
            generation=generation,
            size=int(blob.size or 0),
            crc32c=blob.crc32c,
            md5=blob.md5_hash,
            copy=copy_path(bucket, generation, blob.name),
            content_type=blob.content_type,
            content_encoding=blob.content_encoding,
            content_language=blob.content_language,
            content_disposition=blob.content_disposition,
            cache_control=blob.cache_control,
            metadata=dict(blob.metadata or {}),
            custom_time=properties.custom_time(blob),
            storage_class=blob.storage_class,
            temporary_hold=bool(blob.temporary_hold),
            event_based_hold=bool(blob.event_based_hold),
            kms_key_name=blob.kms_key_name,
            acl=properties.acl_of(blob._properties),
            exact=True,
        )

    def same_bytes(self, other: ObjectEntry) -> bool:
        """True when ``other`` is known to hold our bytes: same generation, or same size and sums.

        Without a CRC32C nothing is assumed equal. Objects without an MD5
        (composite uploads) compare on size and CRC32C.
        """
        if self.name != other.name:
            return False
        if self.generation == other.generation:
            return True
        return self.crc32c is not None and (self.size, self.crc32c, self.md5) == (
            other.size, other.crc32c, other.md5,
        )  # fmt: skip

    def stored_as(self, blob: Blob) -> bool:
        """True when ``blob`` (a copy or a restored object) has exactly our bytes."""
        md5_agrees = self.md5 is None or blob.md5_hash is None or blob.md5_hash == self.md5
        return int(blob.size or 0) == self.size and blob.crc32c == self.crc32c and md5_agrees

    def attributes_differ(self, blob: Blob) -> list[str]:
        """The recorded properties ``blob`` lacks (empty: identical); see :mod:`.properties`."""
        return properties.differ(self, blob)

    def describe_sums(self) -> str:
        return f"{self.size} bytes, crc32c {self.crc32c}, md5 {self.md5}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "generation": str(self.generation),
            "size": self.size,
            "crc32c": self.crc32c,
            "md5": self.md5,
            "copy": self.copy,
            "content_type": self.content_type,
            "content_encoding": self.content_encoding,
            "content_language": self.content_language,
            "content_disposition": self.content_disposition,
            "cache_control": self.cache_control,
            "metadata": dict(self.metadata),
            **self._exact_json(),
        }

    def _exact_json(self) -> dict[str, Any]:
        if not self.exact:
            return {}
        return {
            "custom_time": self.custom_time,
            "storage_class": self.storage_class,
            "temporary_hold": self.temporary_hold,
            "event_based_hold": self.event_based_hold,
            "kms_key_name": self.kms_key_name,
            "acl": None if self.acl is None else [list(pair) for pair in self.acl],
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> ObjectEntry:
        try:
            return cls(
                name=str(data["name"]),
                generation=int(data["generation"]),
                size=int(data["size"]),
                crc32c=_optional(data, "crc32c"),
                md5=_optional(data, "md5"),
                copy=str(data["copy"]),
                content_type=_optional(data, "content_type"),
                content_encoding=_optional(data, "content_encoding"),
                content_language=_optional(data, "content_language"),
                content_disposition=_optional(data, "content_disposition"),
                cache_control=_optional(data, "cache_control"),
                metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
                **_exact_from_json(data),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(
                f"{where}: malformed object entry ({type(exc).__name__}: {exc})"
            ) from None

    def line(self) -> bytes:
        return (
            json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            + "\n"
        ).encode("utf-8")


def _exact_from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """The properties only exact entries record; nothing for an older snapshot's line."""
    if not all(key in data for key in EXACT_KEYS):
        return {}
    acl = data.get("acl")
    return {
        "custom_time": _optional(data, "custom_time"),
        "storage_class": _optional(data, "storage_class"),
        "temporary_hold": _flag(data, "temporary_hold"),
        "event_based_hold": _flag(data, "event_based_hold"),
        "kms_key_name": _optional(data, "kms_key_name"),
        "acl": None if acl is None else tuple((str(e), str(r)) for e, r in acl),
        "exact": True,
    }


def _flag(data: Mapping[str, Any], key: str) -> bool:
    value = data[key]
    if not isinstance(value, bool):
        raise ValueError(f"{key} is {value!r}, not true or false")
    return value


def _optional(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)
