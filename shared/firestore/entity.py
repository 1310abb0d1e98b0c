"""A document of a managed export, decoded from its ``EntityProto`` into plain values.

The export writes each document as a legacy Datastore v3 ``EntityProto``
(``entity.proto`` of the App Engine SDK); the fields used here:

* ``EntityProto``: ``key`` (13), ``property`` (14) and ``raw_property`` (15),
  the indexed and unindexed fields, in the record's order;
* ``Property``: ``meaning`` (1), ``name`` (3), ``multiple`` (4, an array
  element), ``value`` (5);
* ``PropertyValue``: ``int64Value`` (1), ``booleanValue`` (2),
  ``stringValue`` (3), ``doubleValue`` (4), the ``PointValue`` group (5:
  ``x`` 6 latitude, ``y`` 7 longitude), the ``ReferenceValue`` group (12:
  ``app`` 13, ``PathElement`` groups 14 of ``type`` 15, ``id`` 16, ``name``
  17, ``database_id`` 23); no value at all is null.

The meaning says what a value is: 7 (``GD_WHEN``) an integer of microseconds
is a timestamp, 14 (``BLOB``) and 16 (``BYTESTRING``) a string is bytes, 19
(``ENTITY_PROTO``) a string is a serialized ``EntityProto``, that is a map, 24
(``EMPTY_LIST``) an empty array, 31 a double is an element of a vector (which
Firestore's API shows as the map ``{"__type__": "__vector__", "value": [...]}``).
An array is the run of properties of one name marked ``multiple``, in order.
These were checked against the exports the Firestore emulator writes for
every value type (``tests/test_firestore_contents.py``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from shared.errors import IntegrityError
from shared.firestore import wire
from shared.firestore.canonical import GeoPoint, Reference, Timestamp, database_name
from shared.firestore.exportfile import DocumentKey, document_key, path_element, reference_parts

_KEY, _PROPERTY, _RAW_PROPERTY = 13, 14, 15
_MEANING, _NAME, _MULTIPLE, _VALUE = 1, 3, 4, 5
_INT, _BOOL, _STRING, _DOUBLE, _POINT, _REFERENCE = 1, 2, 3, 4, 5, 12
_LATITUDE, _LONGITUDE = 6, 7
_REF_ELEMENT_FIELDS = (15, 16, 17)  # type, id, name of a reference value's PathElement group
GD_WHEN, BLOB, BYTESTRING, ENTITY_PROTO, EMPTY_LIST, VECTOR = 7, 14, 16, 19, 24, 31


def project_of(app: str) -> str:
    """The project id in an export's ``app`` string (``<partition>~<project>``)."""
    return app.rsplit("~", 1)[-1]


def key_database(key: DocumentKey) -> str:
    """``projects/P/databases/D`` of the database a document was exported from."""
    return database_name(project_of(key.app), key.database)


def key_name(key: DocumentKey) -> str:
    return f"{key_database(key)}/documents/{key.document_path}"


def decode(record: bytes, where: str) -> tuple[DocumentKey, dict[str, Any]]:
    """The key and the fields of one exported document."""
    key = document_key(record, where)
    try:
        return key, _fields(record)
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise IntegrityError(f"{where}: malformed field in {key.document_path} ({exc})") from None


def _fields(entity: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for number, _, value in wire.fields(entity):
        if number not in (_PROPERTY, _RAW_PROPERTY) or not isinstance(value, bytes):
            continue
        name, part, decoded = _property(value)
        if part == "vector":
            vector = fields.setdefault(name, {"__type__": "__vector__", "value": []})
            vector["value"].append(decoded)
        elif part == "element":
            fields.setdefault(name, []).append(decoded)
        else:
            fields[name] = decoded
    return fields


def _property(buf: bytes) -> tuple[str, str, Any]:
    """``(name, what it is: "value", "element" of an array or of a "vector", value)``."""
    meaning = multiple = 0
    name = ""
    raw = b""
    for number, _, value in wire.fields(buf):
        if number == _MEANING and isinstance(value, int):
            meaning = value
        elif number == _NAME and isinstance(value, bytes):
            name = value.decode()
        elif number == _MULTIPLE and isinstance(value, int):
            multiple = value
        elif number == _VALUE and isinstance(value, bytes):
            raw = value
    if meaning == EMPTY_LIST:
        return name, "value", []
    part = "vector" if meaning == VECTOR else "element" if multiple else "value"
    return name, part, _value(raw, meaning)


def _value(buf: bytes, meaning: int) -> Any:
    for number, _, value in wire.fields(buf):
        decoder = _DECODERS.get(number)
        if decoder is not None:
            return decoder(value, meaning)
    return None  # no value: null


def _integer(value: int | bytes, meaning: int) -> Any:
    assert isinstance(value, int)
    signed = value - (1 << 64) if value >= 1 << 63 else value
    return Timestamp(signed) if meaning == GD_WHEN else signed


def _string(value: int | bytes, meaning: int) -> Any:
    assert isinstance(value, bytes)
    if meaning == ENTITY_PROTO:
        return _fields(value)
    return value if meaning in (BLOB, BYTESTRING) else value.decode()


def _point(value: int | bytes, _: int) -> GeoPoint:
    assert isinstance(value, bytes)
    point = dict(_numbers(value))
    return GeoPoint(_double(point[_LATITUDE], 0), _double(point[_LONGITUDE], 0))


def _numbers(buf: bytes) -> Iterator[tuple[int, bytes]]:
    for number, _, value in wire.fields(buf):
        if isinstance(value, bytes):
            yield number, value


def _double(raw: int | bytes, _: int) -> float:
    assert isinstance(raw, bytes)
    return float(struct.unpack("<d", raw)[0])


def _reference(buf: int | bytes, _: int) -> Reference:
    assert isinstance(buf, bytes)
    app, database, path = reference_parts(buf, _value_path)
    names = "/".join(f"{kind}/{name}" for kind, name in path)
    return Reference(f"{database_name(project_of(app), database)}/documents/{names}")


def _value_path(buf: bytes) -> list[tuple[str, str]]:
    return [path_element(buf, _REF_ELEMENT_FIELDS)]


_DECODERS: dict[int, Callable[[int | bytes, int], Any]] = {
    _INT: _integer,
    _BOOL: lambda value, _: bool(value),
    _STRING: _string,
    _DOUBLE: _double,
    _POINT: _point,
    _REFERENCE: _reference,
}
