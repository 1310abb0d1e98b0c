"""One canonical form of Firestore values, so an export record and a live document hash alike.

Verification compares each restored document with the export it came from
(:mod:`shared.firestore.contents`). The two sides speak different formats:
the export holds legacy Datastore ``EntityProto`` records
(:mod:`shared.firestore.entity` decodes them), a database answers with
Firestore v1 ``Value`` protos (:func:`from_api`). Both are first turned into
the same plain Python values, then encoded into bytes by :func:`encode`:

===========  ==========================================================================
type         canonical bytes (every value: one tag byte, then its payload)
===========  ==========================================================================
null         ``N``
boolean      ``B`` + ``00`` or ``01``
integer      ``I`` + 8 bytes, big-endian two's complement (Firestore integers are 64-bit)
double       ``D`` + 8 bytes, big-endian IEEE 754 binary64; every NaN is written as
             ``7FF8000000000000`` (Firestore treats all NaNs as one value); ``-0.0``
             keeps its sign bit, so it differs from ``0.0`` (both formats store it)
timestamp    ``T`` + 8 bytes, signed microseconds since the Unix epoch (Firestore's
             precision; an export stores exactly that)
string       ``S`` + 4-byte big-endian length + UTF-8
bytes        ``Y`` + 4-byte length + the bytes
reference    ``R`` + 4-byte length + UTF-8 of the full name
             ``projects/P/databases/D/documents/PATH``: project and database are part of
             the value, so a reference that points into another database differs
geo point    ``G`` + latitude and longitude, each as a double above
array        ``A`` + 4-byte element count + the elements in order
map          ``M`` + 4-byte entry count + for each entry, in the order of the keys'
             UTF-8 bytes: 4-byte key length + key + value
===========  ==========================================================================

Integers and doubles are different types (``1`` is not ``1.0``), as in
Firestore. A vector is the map Firestore stores it as. A document's digest
is the SHA-256 of its fields encoded as a map (:func:`digest`).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_CANONICAL_NAN = b"\x7f\xf8\x00\x00\x00\x00\x00\x00"


@dataclass(frozen=True)
class Timestamp:
    micros: int


@dataclass(frozen=True)
class Reference:
    name: str  # projects/P/databases/D/documents/PATH


@dataclass(frozen=True)
class GeoPoint:
    latitude: float
    longitude: float


def _double(value: float) -> bytes:
    return _CANONICAL_NAN if math.isnan(value) else struct.pack(">d", value)


def _sized(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack(">I", len(data)) + data


def encode(value: Any) -> bytes:
    """The canonical bytes of one value (see the module docstring)."""
    for kind, encoder in _ENCODERS:
        if isinstance(value, kind):
            return encoder(value)
    raise TypeError(f"not a Firestore value: {type(value).__name__}")


def _map(fields: Mapping[str, Any]) -> bytes:
    entries = sorted((key.encode(), item) for key, item in fields.items())
    return (
        b"M"
        + struct.pack(">I", len(entries))
        + b"".join(_sized(b"", key) + encode(item) for key, item in entries)
    )


def digest(fields: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of a document's fields in canonical form."""
    return hashlib.sha256(_map(fields)).hexdigest()


_ENCODERS: tuple[tuple[type | tuple[type, ...], Callable[[Any], bytes]], ...] = (
    (type(None), lambda _: b"N"),
    (bool, lambda value: b"B\x01" if value else b"B\x00"),  # before int: a bool is an int
    (int, lambda value: b"I" + struct.pack(">q", value)),
    (float, lambda value: b"D" + _double(value)),
    (Timestamp, lambda value: b"T" + struct.pack(">q", value.micros)),
    (str, lambda value: _sized(b"S", value.encode())),
    (bytes, lambda value: _sized(b"Y", value)),
    (Reference, lambda value: _sized(b"R", value.name.encode())),
    (GeoPoint, lambda value: b"G" + _double(value.latitude) + _double(value.longitude)),
    (list, lambda value: b"A" + struct.pack(">I", len(value)) + b"".join(map(encode, value))),
    (Mapping, _map),
)


def database_name(project: str, database: str) -> str:
    return f"projects/{project}/databases/{database or '(default)'}"


def moved(name: str, source: str, destination: str) -> str:
    """``name`` with the database ``source`` replaced by ``destination`` (others unchanged)."""
    prefix = f"{source}/documents/"
    return f"{destination}/documents/{name[len(prefix) :]}" if name.startswith(prefix) else name


def from_api(value: Any) -> Any:
    """A Firestore v1 ``Value`` (protobuf message) as a plain value."""
    kind = value.WhichOneof("value_type")
    if kind not in _FROM_API:
        raise TypeError(f"unexpected Firestore value type {kind!r}")
    return _FROM_API[kind](value)


def fields_from_api(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: from_api(item) for key, item in fields.items()}


_FROM_API: Mapping[str, Callable[[Any], Any]] = {
    "null_value": lambda _: None,
    "boolean_value": lambda value: value.boolean_value,
    "integer_value": lambda value: value.integer_value,
    "double_value": lambda value: value.double_value,
    "timestamp_value": lambda value: Timestamp(
        value.timestamp_value.seconds * 1_000_000 + value.timestamp_value.nanos // 1000
    ),
    "string_value": lambda value: value.string_value,
    "bytes_value": lambda value: value.bytes_value,
    "reference_value": lambda value: Reference(value.reference_value),
    "geo_point_value": lambda value: GeoPoint(
        value.geo_point_value.latitude, value.geo_point_value.longitude
    ),
    "array_value": lambda value: [from_api(item) for item in value.array_value.values],
    "map_value": lambda value: fields_from_api(value.map_value.fields),
}
