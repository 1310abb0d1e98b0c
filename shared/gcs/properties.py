"""Every object property a writer can set: how a snapshot reads, writes and compares them.

A snapshot entry records each property, *including its absence*: an entry
written by this version is ``exact``, and a property it records as absent
(``None``, ``{}``, ``False``) must be absent after a restore too. Entries
from older snapshots lack the newer properties; for them a restore sets what
they record and leaves the rest alone, as it always did.

A restore writes an object in two requests at most:

* the rewrite from the backup copy carries the body properties (content
  type/encoding/language/disposition, cache control, custom time, custom
  metadata, storage class) and the KMS key (``destinationKmsKeyName``). A
  rewrite body is the new object's metadata, so a property the copy carries
  but the snapshot says is absent is not asked for;
* whatever still differs afterwards (a copy's stale property kept by the
  service, holds and ACLs, which the rewrite body does not carry) is set by
  one PATCH conditional on the new generation, with ``null`` for each
  property or metadata key that must go.

Storage class and KMS key cannot be patched: only the rewrite sets them, and
verification says so when they differ. ACLs are compared only when recorded
(fine-grained source buckets, read with ``storage.objects.getIamPolicy``)
and applied only where the destination bucket allows object ACLs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud.storage import Blob

    from shared.gcs.snapshot import ObjectEntry

# Text properties set in the rewrite body and patchable, as (entry field, Blob property).
TEXT = (
    ("content_type", "content_type"),
    ("content_encoding", "content_encoding"),
    ("content_language", "content_language"),
    ("content_disposition", "content_disposition"),
    ("cache_control", "cache_control"),
)
HOLDS = ("temporary_hold", "event_based_hold")
_KEY_VERSION = re.compile(r"/cryptoKeyVersions/[^/]+$")

Acl = tuple[tuple[str, str], ...]


def key_name(listed: str | None) -> str | None:
    """A KMS key as a writer names it: the listing's ``.../cryptoKeyVersions/N`` dropped."""
    return _KEY_VERSION.sub("", listed) if listed else None


def acl_of(resource: Mapping[str, Any]) -> Acl | None:
    """The object's ACL as sorted (entity, role) pairs; ``None`` when the listing had none."""
    entries = resource.get("acl")
    if entries is None:
        return None
    return tuple(sorted((str(e["entity"]), str(e["role"])) for e in entries))


def custom_time(blob: Blob) -> str | None:
    value: datetime | None = blob.custom_time
    return value.isoformat() if value is not None else None


def current(blob: Blob) -> dict[str, Any]:
    """A live object's properties, in the form an entry records them."""
    props: dict[str, Any] = {attr: getattr(blob, prop) for attr, prop in TEXT}
    props |= {
        "custom_time": custom_time(blob),
        "metadata": dict(blob.metadata or {}),
        "storage_class": blob.storage_class,
        "temporary_hold": bool(blob.temporary_hold),
        "event_based_hold": bool(blob.event_based_hold),
        "kms_key_name": key_name(blob.kms_key_name),
        "acl": acl_of(blob._properties),
    }
    return props


def expected(entry: ObjectEntry) -> dict[str, Any]:
    """What ``entry`` says the object's properties are; only what it records.

    An exact entry records every property except an ACL it could not read;
    an older entry records only what it holds a value for.
    """
    props: dict[str, Any] = {attr: getattr(entry, attr) for attr, _ in TEXT}
    props |= {
        "custom_time": entry.custom_time,
        "metadata": dict(entry.metadata),
        "storage_class": entry.storage_class,
        "temporary_hold": entry.temporary_hold,
        "event_based_hold": entry.event_based_hold,
        "kms_key_name": key_name(entry.kms_key_name),
        "acl": entry.acl,
    }
    if entry.exact:
        return {k: v for k, v in props.items() if k != "acl" or v is not None}
    return {k: v for k, v in props.items() if k == "metadata" or v is not None}


def differ(entry: ObjectEntry, blob: Blob) -> list[str]:
    """The recorded properties of ``entry`` that ``blob`` does not have (empty: identical)."""
    found = current(blob)
    return [name for name, value in expected(entry).items() if found[name] != value]


def prepare_rewrite(entry: ObjectEntry, destination: Blob) -> None:
    """Put the rewrite-body properties of ``entry`` on the (new) ``destination`` blob."""
    want = expected(entry)
    for attr, prop in TEXT:
        if attr in want:
            setattr(destination, prop, want[attr])
    if want.get("custom_time") is not None:
        destination.custom_time = datetime.fromisoformat(want["custom_time"])
    destination.metadata = want["metadata"]
    if want.get("storage_class") is not None:
        destination.storage_class = want["storage_class"]


def settle(entry: ObjectEntry, blob: Blob) -> list[str]:
    """Mark on ``blob`` every patchable property that still differs; returns their names.

    The caller patches ``blob`` when the list is not empty.
    """
    want, found = expected(entry), current(blob)
    changed = [name for name in want if found[name] != want[name] and name in _PATCHABLE]
    for name in changed:
        _PATCHABLE[name](blob, want[name], found[name])
    return changed


def _set_text(prop: str) -> Any:
    return lambda blob, value, _: setattr(blob, prop, value)


def _set_custom_time(blob: Blob, value: str | None, _: object) -> None:
    blob.custom_time = datetime.fromisoformat(value) if value is not None else None


def _set_metadata(blob: Blob, value: dict[str, str], found: dict[str, str]) -> None:
    blob.metadata = {**{key: None for key in found if key not in value}, **value}


def _set_hold(prop: str) -> Any:
    return lambda blob, value, _: setattr(blob, prop, bool(value))


def _set_acl(blob: Blob, value: Acl, _: object) -> None:
    blob._patch_property("acl", [{"entity": entity, "role": role} for entity, role in value])


_PATCHABLE: dict[str, Any] = {
    **{attr: _set_text(prop) for attr, prop in TEXT},
    "custom_time": _set_custom_time,
    "metadata": _set_metadata,
    **{hold: _set_hold(hold) for hold in HOLDS},
    "acl": _set_acl,
}
