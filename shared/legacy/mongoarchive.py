"""A streaming reader of mongodump's archive format (``mongodump --archive``).

Written from the format's specification in mongo-tools (``common/archive``)::

    archive    = magic header *collection-metadata terminator *(segment | eof)
    magic      = 6d e2 99 81            (0x8199e26d, little-endian)
    terminator = ff ff ff ff
    segment    = namespace-header +document terminator
    eof        = namespace-header(EOF: true) terminator

The header is ``{concurrent_collections, version, server_version,
tool_version}``; each collection-metadata document is ``{db, collection,
metadata, size, type}`` with ``metadata`` the text of mongodump's
``.metadata.json``; a namespace header is ``{db, collection, EOF, CRC}``.
Collections are interleaved segment by segment (mongodump writes several at
once). The oplog is the namespace with an empty ``db`` and collection
``oplog``. A stream that ends before every namespace it began has its EOF
header is cut short, and reported so. The CRC-64 in EOF headers is not
recomputed: the import's own content hashes protect the data from then on.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import Any

import bson

from shared.errors import IntegrityError, TruncatedDataError, UnknownFormatError
from shared.legacy.layers import ARCHIVE_MAGIC
from shared.legacy.tarstream import Documents, Event, WholeFile, collection_spec
from shared.mongodb import names
from shared.mongodb.bsonio import MAX_DOCUMENT, MIN_DOCUMENT

_LENGTH = struct.Struct("<i")
TERMINATOR = b"\xff\xff\xff\xff"
BATCH = 4 * 1024 * 1024
_OPLOG = ("", "oplog")


class _Reader:
    """The archive's bytes, buffered here so that documents are found in bulk, not one read each."""

    def __init__(self, stream: io.BufferedReader, where: str) -> None:
        self._stream = stream
        self.where = where
        self._data = b""
        self._pos = 0

    def _available(self, size: int) -> bool:
        """At least ``size`` unread bytes in the buffer, unless the stream ends first."""
        while len(self._data) - self._pos < size:
            chunk = self._stream.read(max(BATCH, size))
            if not chunk:
                return False
            self._data = self._data[self._pos :] + chunk
            self._pos = 0
        return True

    def exactly(self, size: int, what: str) -> bytes:
        if not self._available(size):
            raise TruncatedDataError(f"{self.where}: the archive ends inside {what}: cut short")
        start = self._pos
        self._pos += size
        return self._data[start : self._pos]

    def next_length(self) -> bytes:
        """The next 4 bytes, or ``b""`` at a clean end between namespaces."""
        return self.exactly(4, "a namespace header") if self._available(1) else b""

    def documents(self, what: str) -> Iterator[tuple[bytes, list[int]]]:
        """Whole documents up to the next terminator, about BATCH bytes at a time."""
        while True:
            data, start = self._data, self._pos
            position, offsets, need, ended = start, [0], 4, False
            while position + 4 <= len(data) and position - start < BATCH:
                (length,) = _LENGTH.unpack_from(data, position)
                if length == -1:
                    ended = True
                    break
                self._check_length(length, what)
                if position + length > len(data):
                    need = length
                    break
                if data[position + length - 1] != 0:
                    raise IntegrityError(
                        f"{self.where}: damaged archive: a document in {what} is cut"
                    )
                position += length
                offsets.append(position - start)
            self._pos = position + 4 * ended
            if len(offsets) > 1:
                yield data[start:position], offsets
            if ended:
                return
            if not self._available(need):
                raise TruncatedDataError(f"{self.where}: the archive ends inside {what}: cut short")

    def _check_length(self, length: int, what: str) -> None:
        if not MIN_DOCUMENT <= length <= MAX_DOCUMENT:
            raise IntegrityError(
                f"{self.where}: not a mongodump archive: impossible document length {length} "
                f"in {what}"
            )

    def document(self, what: str, first: bytes | None = None) -> bytes | None:
        """The next BSON document, or None at a terminator."""
        prefix = first if first is not None else self.exactly(4, what)
        if prefix == TERMINATOR:
            return None
        length = int.from_bytes(prefix, "little", signed=True)
        self._check_length(length, what)
        document = prefix + self.exactly(length - 4, what)
        if document[-1] != 0:
            raise IntegrityError(f"{self.where}: damaged archive: a document in {what} is cut")
        return document

    def fields(self, what: str, first: bytes | None = None) -> dict[str, Any] | None:
        raw = self.document(what, first)
        if raw is None:
            return None
        try:
            return bson.decode(raw)
        except (bson.errors.BSONError, ValueError) as exc:
            raise IntegrityError(f"{self.where}: damaged archive: {what} ({exc})") from None


def events(stream: io.BufferedReader, where: str) -> Iterator[Event]:
    """The archive's collections as :mod:`.tarstream` events, in archive order."""
    reader = _Reader(stream, where)
    if reader.exactly(4, "the magic number") != ARCHIVE_MAGIC:
        raise UnknownFormatError(f"{where}: not a mongodump archive (no magic number)")
    header = reader.fields("the archive header")
    if header is None or not str(header.get("version", "")).startswith("0."):
        raise UnknownFormatError(f"{where}: unknown mongodump archive version in {header}")
    expected: set[str] = set()
    while (meta := reader.fields("the archive prelude")) is not None:
        db, name = str(meta.get("db", "")), str(meta.get("collection", ""))
        if (db, name) == _OPLOG:
            continue
        text = str(meta.get("metadata") or "").encode("utf-8")
        spec = collection_spec(
            names.check_db_name(db), name, str(meta.get("type") or ""), text, where
        )
        yield WholeFile(spec.metadata_path, spec.to_json_bytes())
        if spec.data_path:
            expected.add(spec.data_path)
    yield from _body(reader, expected)


def _path(header: dict[str, Any], where: str) -> str:
    db, name = str(header.get("db", "")), str(header.get("collection", ""))
    if (db, name) == _OPLOG:
        return names.OPLOG
    if not name:
        raise IntegrityError(f"{where}: damaged archive: a namespace header names no collection")
    return f"{names.check_db_name(db)}/{names.escape_collection(name)}{names.BSON_SUFFIX}"


def _body(reader: _Reader, expected: set[str]) -> Iterator[Event]:
    ended: set[str] = set()
    while first := reader.next_length():
        header = reader.fields("a namespace header", first)
        if header is None:
            raise IntegrityError(f"{reader.where}: damaged archive: a terminator out of place")
        path = _path(header, reader.where)
        if path in ended:
            raise IntegrityError(f"{reader.where}: damaged archive: {path} continues after its end")
        if header.get("EOF"):
            if reader.exactly(4, "an end-of-namespace marker") != TERMINATOR:
                raise IntegrityError(f"{reader.where}: damaged archive: no terminator after EOF")
            ended.add(path)
            continue
        expected.add(path)
        yield from _segment(reader, path)
    missing = sorted(expected - ended)
    if missing:
        raise TruncatedDataError(
            f"{reader.where}: the archive ends before {', '.join(missing[:5])} is complete "
            "(no end-of-namespace marker): cut short"
        )


def _segment(reader: _Reader, path: str) -> Iterator[Documents]:
    for data, offsets in reader.documents(f"the documents of {path}"):
        yield Documents(path, data, offsets)
