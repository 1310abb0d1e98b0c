"""The two binary layers of a Firestore managed export: LevelDB log records and protobuf fields.

A managed export writes its documents as serialized Datastore ``EntityProto``
messages (the legacy v3 entity format, with key paths made of kind/name
elements) inside files in the LevelDB *log* format
(``doc/log_format.md`` in google/leveldb):

* the file is a sequence of 32 KiB blocks; a block ends with zero padding
  when fewer than 7 bytes are left in it;
* each physical record is ``checksum(4, LE) | length(2, LE) | type(1) | data``
  where the checksum is the *masked* CRC32C of the type byte and the data;
* a logical record is one FULL fragment, or FIRST, MIDDLE..., LAST.

Only the fields the product needs are decoded, with a minimal protobuf wire
reader rather than generated classes: the v3 entity protos are not shipped by
any maintained Python package, and counting documents needs the key alone.
Every defect (a checksum mismatch, a fragment out of order, a record cut short)
is an :class:`~shared.errors.IntegrityError` naming the file and the offset.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Protocol

from shared.errors import IntegrityError, TruncatedDataError

BLOCK_SIZE = 32 * 1024
HEADER_SIZE = 7
ZERO, FULL, FIRST, MIDDLE, LAST = 0, 1, 2, 3, 4
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5


def mask_crc(crc: int) -> int:
    """LevelDB stores CRCs rotated and offset, so a CRC of data containing CRCs stays strong."""
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


def record_crc(record_type: int, data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(bytes([record_type]))
    return mask_crc(google_crc32c.extend(crc, data))


def read_records(stream: Readable, where: str) -> Iterator[bytes]:
    """Yield the logical records of a LevelDB log read from ``stream``, verifying every CRC."""
    pending: bytearray | None = None
    offset = 0
    while True:
        block = _read_block(stream)
        if not block:
            break
        position = 0
        while len(block) - position >= HEADER_SIZE:
            masked, length, record_type = struct.unpack_from("<IHB", block, position)
            at = offset + position
            if record_type == ZERO and length == 0 and masked == 0:
                break  # zero padding written by a preallocating writer: rest of block unused
            end = position + HEADER_SIZE + length
            if end > len(block):
                if len(block) < BLOCK_SIZE:
                    raise TruncatedDataError(f"{where}: record at byte {at} is cut short")
                raise IntegrityError(f"{where}: record at byte {at} overruns its block")
            data = bytes(block[position + HEADER_SIZE : end])
            if record_crc(record_type, data) != masked:
                raise IntegrityError(f"{where}: checksum mismatch in the record at byte {at}")
            pending = _assemble(pending, record_type, data, where, at)
            if record_type in (FULL, LAST):
                assert pending is not None
                yield bytes(pending)
                pending = None
            position = end
        tail = block[position:]
        if len(block) < BLOCK_SIZE and any(tail):
            raise TruncatedDataError(f"{where}: file ends inside a record header")
        if any(tail):
            raise IntegrityError(f"{where}: non-zero block trailer at byte {offset + position}")
        offset += len(block)
    if pending is not None:
        raise TruncatedDataError(f"{where}: file ends inside a fragmented record")


def _read_block(stream: Readable) -> bytes:
    """One whole block (shorter only at the end of the file), whatever the stream returns."""
    parts: list[bytes] = []
    size = 0
    while size < BLOCK_SIZE:
        chunk = stream.read(BLOCK_SIZE - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _assemble(
    pending: bytearray | None, record_type: int, data: bytes, where: str, at: int
) -> bytearray | None:
    if record_type in (FULL, FIRST):
        if pending is not None:
            raise IntegrityError(f"{where}: record at byte {at} starts before the last one ended")
        return bytearray(data)
    if record_type in (MIDDLE, LAST):
        if pending is None:
            raise IntegrityError(f"{where}: record fragment at byte {at} has no beginning")
        pending += data
        return pending
    raise IntegrityError(f"{where}: unknown record type {record_type} at byte {at}")


# --- protobuf wire format ----------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    if pos < len(buf) and buf[pos] < 0x80:  # one byte: most tags and lengths, read fast
        return buf[pos], pos + 1
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("varint runs past the end")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)`` for each field; groups yield their inner bytes.

    Raises ``ValueError`` on malformed input; callers turn it into an
    :class:`IntegrityError` naming the record.
    """
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        value: int | bytes
        if wire == VARINT:
            value, pos = _varint(buf, pos)
        elif wire == FIXED64:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == FIXED32:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == LENGTH:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == START_GROUP:
            start = pos
            pos = _skip_group(buf, pos, number)
            value = buf[start : pos - _tag_size(number, END_GROUP)]
        else:
            raise ValueError(f"unexpected wire type {wire} for field {number}")
        if pos > len(buf):
            raise ValueError(f"field {number} runs past the end")
        yield number, wire, value


def _tag_size(number: int, wire: int) -> int:
    tag = (number << 3) | wire
    size = 1
    while tag >= 0x80:
        tag >>= 7
        size += 1
    return size


def _skip_group(buf: bytes, pos: int, number: int) -> int:
    """The position just after the END_GROUP tag that closes group ``number``."""
    while True:
        if pos >= len(buf):
            raise ValueError(f"group {number} is not closed")
        tag, pos = _varint(buf, pos)
        inner, wire = tag >> 3, tag & 7
        if wire == END_GROUP:
            if inner != number:
                raise ValueError(f"group {number} closed by end of group {inner}")
            return pos
        if wire == VARINT:
            _, pos = _varint(buf, pos)
        elif wire == FIXED64:
            pos += 8
        elif wire == FIXED32:
            pos += 4
        elif wire == LENGTH:
            length, pos = _varint(buf, pos)
            pos += length
        elif wire == START_GROUP:
            pos = _skip_group(buf, pos, inner)
        else:
            raise ValueError(f"unexpected wire type {wire} in group {number}")
