"""Writing and rewriting Firestore export folders on local disk, for the Admin API stand-in.

The Firestore emulator exports and imports the managed-export format, but
two things a managed export or import does are missing, so the stand-in
does them on the files:

* **collection subsets.** The emulator's export has no ``collection_ids``.
  A managed export of specific collection groups writes one entity set per
  group, ``all_namespaces/kind_<id>/all_namespaces_kind_<id>.export_metadata``
  with its ``output-N`` files; :func:`write_export` lays filtered records out
  that way.
* **importing into another database.** The emulator's import keeps each
  entity's key as exported, database id included (it rewrites only the
  project, to the one in the request). An entity whose key names another
  database than the request's shows up nowhere: not in the target, not in
  the database it came from. That is the "200 but no data" of an import into
  a named database. So the stand-in moves the database id of every *key* to
  the request's database before importing, as the emulator does for the
  project id, and nothing else.

  Reference *values* are left exactly as exported, as the managed import
  leaves them: a restored reference still names the source project and the
  source database, whether the import went into another database or into
  another project. Sources: the Firebase JS SDK's issue tracker, where users
  report such references into the source database as the result of
  Firebase's own export/import, restore and clone workflows and ask for a
  rewrite the import does not do (github.com/firebase/firebase-js-sdk issue
  8166; the SDK logs an error for each such reference it reads, issue 10249);
  and the ``importDocuments`` reference and the export/import guide
  (cloud.google.com/firestore/docs/manage-data/export-import), which describe
  documents written under the target database and no rewriting of values.
  The emulator's own import does the same: it moves keys, not references.

Records are read with the product's own LevelDB log reader
(:mod:`shared.firestore.wire`); writing is here, with the metadata protos
encoded field by field (field numbers as the emulator writes them).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from shared.firestore import exportfile, wire

OVERALL_SUFFIX = ".overall_export_metadata"
_ALL_KINDS, _ONE_KIND, _ALL_NAMESPACES = 2, 1, 3  # EntitySetSpec enums
_DATABASE_ID = 23  # in a key Reference
_KEY = 13


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode(number: int, wire_type: int, value: int | bytes) -> bytes:
    tag = _varint((number << 3) | wire_type)
    if wire_type == wire.VARINT:
        assert isinstance(value, int)
        return tag + _varint(value)
    assert isinstance(value, bytes)
    if wire_type == wire.LENGTH:
        return tag + _varint(len(value)) + value
    if wire_type == wire.START_GROUP:
        return tag + value + _varint((number << 3) | wire.END_GROUP)
    return tag + value  # fixed32/fixed64: already the raw little-endian bytes


def write_log(path: Path, records: Iterable[bytes]) -> None:
    """Write ``records`` as a LevelDB log: 32 KiB blocks, fragments, masked CRC32C headers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = wire.BLOCK_SIZE
        for record in records:
            data, first = record, True
            while True:
                if left < wire.HEADER_SIZE:
                    out.write(b"\0" * left)
                    left = wire.BLOCK_SIZE
                size = min(len(data), left - wire.HEADER_SIZE)
                last = size == len(data)
                kind = (
                    (wire.FULL if last else wire.FIRST)
                    if first
                    else (wire.LAST if last else wire.MIDDLE)
                )
                fragment = data[:size]
                out.write(struct.pack("<IHB", wire.record_crc(kind, fragment), size, kind))
                out.write(fragment)
                left -= wire.HEADER_SIZE + size
                data, first = data[size:], False
                if last:
                    break


def read_log(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        yield from wire.read_records(stream, str(path))


def entity_records(folder: Path) -> Iterator[bytes]:
    """Every entity in an export folder, whatever its layout (all kinds or per kind)."""
    for path in sorted(folder.rglob("output-*")):
        yield from read_log(path)


def write_export(folder: Path, by_kind: Mapping[str | None, list[bytes]]) -> tuple[int, int]:
    """Lay out an export in ``folder`` (its name is the export's name); returns (entities, bytes).

    ``by_kind`` maps a collection id to its entities, or ``None`` to all
    entities of a whole-database export.
    """
    name = folder.name
    pointers = b""
    total_entities = total_bytes = 0
    for kind, records in sorted(by_kind.items(), key=lambda item: item[0] or ""):
        directory = "all_kinds" if kind is None else f"kind_{kind}"
        relative = Path("all_namespaces") / directory
        write_log(folder / relative / "output-0", records)
        size = (folder / relative / "output-0").stat().st_size
        kind_info = encode(1, wire.LENGTH, (kind or "").encode()) + encode(
            2, wire.LENGTH, b"output-0"
        )
        backup = encode(1, wire.LENGTH, encode(1, wire.LENGTH, name.encode()))
        backup += encode(2, wire.LENGTH, kind_info)
        metadata = relative / f"all_namespaces_{directory}.export_metadata"
        (folder / metadata).write_bytes(backup)
        spec = encode(1, wire.VARINT, _ALL_KINDS if kind is None else _ONE_KIND)
        if kind is not None:
            spec += encode(2, wire.LENGTH, kind.encode())
        spec += encode(3, wire.VARINT, _ALL_NAMESPACES)
        pointer = encode(1, wire.LENGTH, spec) + encode(2, wire.LENGTH, str(metadata).encode())
        pointer += encode(3, wire.VARINT, len(records)) + encode(4, wire.VARINT, size)
        pointers += encode(1, wire.LENGTH, pointer)
        total_entities += len(records)
        total_bytes += size
    write_log(folder / f"{name}{OVERALL_SUFFIX}", [b"3", pointers])
    return total_entities, total_bytes


def collection_id(record: bytes) -> str:
    return exportfile.document_key(record, "export record").collection_id


def move_to_database(record: bytes, database: str) -> bytes:
    """The entity with its key moved to ``database``; its values (references too) unchanged."""
    source = exportfile.document_key(record, "export record").database
    target = "" if database == "(default)" else database
    out = bytearray()
    for number, wire_type, value in wire.fields(record):
        if number == _KEY and isinstance(value, bytes):
            out += encode(number, wire_type, _set_database(value, source, target))
        else:
            out += encode(number, wire_type, value)
    return bytes(out)


def _set_database(reference: bytes, source: str, target: str) -> bytes:
    out = bytearray()
    current = ""
    for number, wire_type, value in wire.fields(reference):
        if number == _DATABASE_ID and isinstance(value, bytes):
            current = value.decode()
        else:
            out += encode(number, wire_type, value)
    database = target if current == source else current
    if database:
        out += encode(_DATABASE_ID, wire.LENGTH, database.encode())
    return bytes(out)
