"""Reading a snapshot file: whole (restores, retention) or from a position (a listing step).

A snapshot file is checked against its manifest artifact as it is read. A
listing that is cut into steps (:mod:`shared.gcs.listing`) reads the previous
snapshot alongside, each step from where the last one stopped; the position
it hands on carries the CRC32C of every byte before it, so the step that
reads the last byte still checks the whole file's size and CRC32C (the
SHA-256 is checked too when one reader reads the file from its start).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import storage
from shared.errors import IntegrityError
from shared.gcs.snapshot import ObjectEntry
from shared.manifest import Artifact

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Position:
    """A line boundary in a snapshot file, with the CRC32C of the bytes from ``origin`` to it.

    ``origin`` is 0 (every byte before it) unless the file is read in name
    ranges: then each range sums its own segment, and the listing checks the
    whole file from the segments (:mod:`shared.gcs.ranges`).
    """

    offset: int = 0
    crc32c: int = 0
    origin: int = 0

    def to_json(self) -> dict[str, int]:
        return {"offset": self.offset, "crc32c": self.crc32c} | (
            {"origin": self.origin} if self.origin else {}
        )

    @classmethod
    def from_json(cls, data: Any) -> Position:
        return cls(int(data["offset"]), int(data["crc32c"]), int(data.get("origin", 0)))


class SnapshotReader:
    """The entries of one snapshot file from ``start``; ``before`` is where the last one began."""

    def __init__(self, bucket: Bucket, artifact: Artifact, start: Position | None = None) -> None:
        self.bucket = bucket
        self.artifact = artifact
        self.start = start or Position()
        self.before = self.after = self.start
        self.where = f"gs://{bucket.name}/{artifact.path}"

    def __iter__(self) -> Iterator[ObjectEntry]:
        import google_crc32c

        whole = storage.Checksums() if self.start.offset == 0 else None
        with storage.open_download(self.bucket, self.artifact.path) as reader:
            if self.start.offset:
                reader.seek(self.start.offset)
            for number, raw in enumerate(_lines(reader, whole), start=1):
                self.before = self.after
                self.after = Position(
                    self.after.offset + len(raw),
                    google_crc32c.extend(self.after.crc32c, raw),
                    self.after.origin,
                )
                yield self._entry(raw, number)
        self.before = self.after
        self._check(whole)

    def _entry(self, raw: bytes, number: int) -> ObjectEntry:
        where = f"{self.where} line {number}" + (
            f" after byte {self.start.offset}" if self.start.offset else ""
        )
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"{where} is not JSON: {exc}") from None
        return ObjectEntry.from_json(data, where)

    def _check(self, whole: storage.Checksums | None) -> None:
        artifact = self.artifact
        crc = base64.b64encode(self.after.crc32c.to_bytes(4, "big")).decode("ascii")
        sha256 = whole is not None and bool(artifact.sha256)  # composed snapshots have none
        found = (self.after.offset, crc) + ((whole.sha256,) if whole and sha256 else ())
        expected = (artifact.size, artifact.crc32c) + ((artifact.sha256,) if sha256 else ())
        if self.after.origin:  # a segment: its CRC32C is checked with the others'
            found, expected = found[:1], expected[:1]
        if found != expected:
            raise IntegrityError(
                f"{self.where} does not match its manifest ({self.after.offset} bytes, crc32c "
                f"{crc}; manifest says {artifact.size} bytes, crc32c {artifact.crc32c})"
            )


def read_snapshot(bucket: Bucket, artifact: Artifact) -> Iterator[ObjectEntry]:
    """The entries of one snapshot file, checked against its manifest artifact.

    The check completes when the last entry has been read: a consumer that acts
    on entries must read them all first (a restore does), or accept that a
    damaged file raises :class:`IntegrityError` at the end (the lister does:
    the run then fails loudly instead of trusting a damaged base).
    """
    return iter(SnapshotReader(bucket, artifact))


def _lines(reader: io.BufferedIOBase, whole: storage.Checksums | None) -> Iterator[bytes]:
    """Lines with their newline, read in large chunks (reading line by line is byte by byte)."""
    pending = b""
    while chunk := reader.read(READ_CHUNK):
        if whole is not None:
            whole.update(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        yield from (line + b"\n" for line in lines)
    if pending:
        yield pending


class SortedLookup:
    """Finds entries of a name-sorted stream for names asked in ascending order.

    Both the previous snapshot and a new listing are sorted by name, so a merge
    walk needs one entry in memory, not the whole previous snapshot. Should the
    names ever arrive out of order, lookups miss and objects are copied again:
    slower, never wrong. Over a :class:`SnapshotReader`, :meth:`position` is
    where a later lookup for names after the last one asked can start reading.
    """

    def __init__(
        self, entries: Iterator[ObjectEntry], reader: SnapshotReader | None = None
    ) -> None:
        self._entries = entries
        self._reader = reader
        self._current: ObjectEntry | None = next(entries, None)

    def find(self, name: str) -> ObjectEntry | None:
        while self._current is not None and self._current.name < name:
            self._current = next(self._entries, None)
        return self._current if self._current is not None and self._current.name == name else None

    def position(self) -> Position:
        """Where the entry not yet passed begins (the end, once every entry is passed)."""
        if self._reader is None:
            raise ValueError("a lookup over a plain stream has no position")
        return self._reader.before

    def drain(self) -> None:
        """Read to the end, so that the stream's integrity check runs."""
        for _ in self._entries:
            pass
