"""Concatenated BSON: finding document boundaries and hashing content, without decoding.

A ``.bson`` file (and a raw ``find`` batch) is documents back to back, each
starting with its int32 little-endian length and ending with a NUL byte. That
is all this module looks at: documents pass through the dump and the restore
as raw bytes, so every BSON type (including deprecated ones a decoder would
alter) survives unchanged.

The content hash of a collection is the sum modulo 2^256 of the SHA-256 of
every document's bytes, with the document count. A sum does not depend on
order, so a restored collection (whose natural order the server chooses)
hashes the same as its dump; a changed, missing or extra document changes it.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from shared.crypto import Readable
from shared.errors import IntegrityError

MIN_DOCUMENT = 5
# Documents are at most 16 MiB; oplog entries carry up to 16 KiB more around one.
MAX_DOCUMENT = 16 * 1024 * 1024 + 16 * 1024
READ_CHUNK = 4 * 1024 * 1024
_LENGTH = struct.Struct("<i")
_MODULUS = 1 << 256


def boundaries(data: bytes | memoryview, where: str, base: int = 0) -> list[int]:
    """Offsets ``[0, end1, end2, ...]`` of the whole documents in ``data``; a partial tail is left.

    IntegrityError (naming ``where`` and the absolute offset ``base + n``)
    when a length is impossible or a document does not end in NUL.
    """
    offsets = [0]
    size = len(data)
    position = 0
    while position + 4 <= size:
        (length,) = _LENGTH.unpack_from(data, position)
        if not MIN_DOCUMENT <= length <= MAX_DOCUMENT:
            raise IntegrityError(
                f"{where}: invalid BSON document length {length} at byte {base + position}"
            )
        end = position + length
        if end > size:
            break
        if data[end - 1] != 0:
            raise IntegrityError(
                f"{where}: BSON document at byte {base + position} is not terminated"
            )
        offsets.append(end)
        position = end
    return offsets


def documents(data: bytes | memoryview, offsets: list[int]) -> Iterator[memoryview]:
    """Each document of ``data`` delimited by ``offsets`` (from :func:`boundaries`)."""
    view = memoryview(data)
    for start, end in itertools.pairwise(offsets):
        yield view[start:end]


@dataclass
class ContentHash:
    """Order-independent hash of a set of documents (see the module docstring)."""

    count: int = 0
    total: int = field(default=0, repr=False)

    def add(self, data: bytes | memoryview, offsets: list[int]) -> None:
        total = self.total
        sha256 = hashlib.sha256
        for document in documents(data, offsets):
            total += int.from_bytes(sha256(document).digest(), "big")
        self.total = total % _MODULUS
        self.count += len(offsets) - 1

    @property
    def hexdigest(self) -> str:
        return f"{self.total:064x}"


def document_batches(
    source: Readable, where: str, chunk: int = READ_CHUNK
) -> Iterator[tuple[bytes, list[int]]]:
    """Whole documents from a stream, about ``chunk`` bytes at a time, with their boundaries.

    Memory stays at one chunk plus at most one document. A stream that ends
    inside a document is an IntegrityError.
    """
    pending = b""
    consumed = 0
    while True:
        data = source.read(chunk)
        if not data:
            break
        buffer = pending + data if pending else data
        offsets = boundaries(buffer, where, consumed)
        end = offsets[-1]
        if end:
            yield buffer, offsets
        pending = buffer[end:]
        consumed += end
    if pending:
        raise IntegrityError(f"{where}: ends inside a BSON document at byte {consumed}")
