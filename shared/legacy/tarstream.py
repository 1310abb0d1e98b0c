"""A legacy dump turned, as it is read, into the product's archive layout (``ARCHIVE_FORMAT.md``).

The readers of the two mongodump layouts (:mod:`.mongoarchive`,
:mod:`.mongodir`) produce the same events: whole small files (metadata,
already normalised) and batches of whole documents of a ``.bson`` file.
:class:`TarStream` writes each batch as the next *part* of its file, so the
result is exactly the tar stream the MongoDB restore reads from the
product's own backups, produced on the fly with memory bounded by one batch.
It is deterministic (fixed mode and time, names from the dump), so the
import and every later restore see the same bytes, and it records each
file's size, SHA-256, parts and document content hash for the manifest.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bson import json_util

from shared.errors import IntegrityError
from shared.legacy.chunks import ChunkSource
from shared.mongodb import names
from shared.mongodb.archive import FileRecord, part_name
from shared.mongodb.bsonio import ContentHash
from shared.mongodb.metadata import CollectionSpec

BLOCK = 512
_JSON = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL)


@dataclass(frozen=True)
class WholeFile:
    path: str
    data: bytes


@dataclass(frozen=True)
class Documents:
    """Whole documents of one ``.bson`` file: ``data[offsets[0]:offsets[-1]]``."""

    path: str
    data: bytes
    offsets: list[int]


Event = WholeFile | Documents


def collection_spec(db: str, name: str, kind: str, text: bytes, where: str) -> CollectionSpec:
    """A legacy metadata file as a spec; fields older mongodump versions left out are filled in."""
    try:
        document: Any = json_util.loads(text.decode("utf-8"), json_options=_JSON) if text else {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise IntegrityError(f"{where}: metadata of {db}.{name} is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise IntegrityError(f"{where}: metadata of {db}.{name} is not a JSON object")
    document.setdefault("collectionName", name)
    document.setdefault("indexes", [])
    if not document.get("type"):
        document["type"] = kind or "collection"
    normal = json_util.dumps(document, json_options=_JSON).encode("utf-8")
    return CollectionSpec.from_json_bytes(db, normal, f"{where}: {db}.{name}")


@dataclass
class _Record:
    size: int = 0
    parts: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)
    content: ContentHash = field(default_factory=ContentHash)


class TarStream(ChunkSource):
    """The tar bytes of ``events``; after the end, :meth:`files` and :meth:`specs` describe them."""

    def __init__(self, events: Iterator[Event], where: str) -> None:
        super().__init__()
        self._events = events
        self._where = where
        self._records: dict[str, _Record] = {}
        self._specs: dict[str, CollectionSpec] = {}
        self._closed = False

    def next_chunk(self) -> bytes:
        event = next(self._events, None)
        if event is None:
            if self._closed:
                return b""
            self._closed = True
            return b"\0" * (2 * BLOCK)
        record = self._records.setdefault(event.path, _Record())
        if isinstance(event, WholeFile):
            if record.size or record.parts:
                raise IntegrityError(f"{self._where}: {event.path} appears twice in the dump")
            data, name = event.data, event.path
            if name.endswith(names.METADATA_SUFFIX):
                spec = CollectionSpec.from_json_bytes(name.split("/")[0], data, self._where)
                self._specs[spec.namespace] = spec
        else:
            data = event.data[: event.offsets[-1]]
            record.parts += 1
            record.content.add(event.data, event.offsets)
            name = part_name(event.path, record.parts)
        record.size += len(data)
        record.sha256.update(data)
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        return header + data + b"\0" * (-len(data) % BLOCK)

    def files(self) -> dict[str, FileRecord]:
        return {
            path: FileRecord(path, r.size, r.sha256.hexdigest(), r.parts)
            for path, r in self._records.items()
        }

    def contents(self) -> dict[str, ContentHash]:
        """Count and content hash of each ``.bson`` file."""
        return {p: r.content for p, r in self._records.items() if p.endswith(names.BSON_SUFFIX)}

    def specs(self) -> dict[str, CollectionSpec]:
        return dict(self._specs)
