"""Reading a managed export where it lies in Cloud Storage: documents per collection, unimported.

An export folder ``<prefix>/`` holds ``<name>.overall_export_metadata``
(``<name>`` is the folder's own last path segment), which points at one
``*.export_metadata`` file per exported entity set (``all_namespaces/all_kinds``
for a whole-database export, ``all_namespaces/kind_<collection>`` per
collection group otherwise), each listing its ``output-N`` data files. The
reader follows those pointers rather than guessing file names, so a data file
that the metadata names but the bucket lacks is an :class:`IntegrityError`,
and so is every damaged record (see :mod:`shared.firestore.wire`).

Counts are per collection *group* (the collection id, the last kind in a
document's key path): ``users/u1/orders/o1`` counts under ``orders``. That is
the granularity the Admin API's ``collectionIds`` use, and the one a test
restore can check with a collection-group count query.

Every object is streamed once (bounded memory) and its SHA-256 and CRC32C
are computed on the way; the CRC32C must equal the one Cloud Storage stored.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared import storage
from shared.errors import IntegrityError, UnknownFormatError
from shared.firestore import wire

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

OVERALL_SUFFIX = ".overall_export_metadata"
METADATA_VERSION = b"3"  # the only overall-metadata version the export format has had

# Field numbers of the legacy Datastore v3 protos (entity.proto) and the export metadata.
_ENTITY_KEY = 13
_REFERENCE_APP, _REFERENCE_PATH, _REFERENCE_DATABASE = 13, 14, 23
_PATH_ELEMENT = 1
_ELEMENT_TYPE, _ELEMENT_ID, _ELEMENT_NAME = 2, 3, 4
_OVERALL_POINTER = 1
_POINTER_FILE, _POINTER_ENTITIES = 2, 3
_BACKUP_KIND_INFO = 2
_KIND_INFO_FILE = 2


@dataclass(frozen=True)
class DocumentKey:
    """Where a document lives: ``app`` is the export's ``<partition>~<project>`` string."""

    app: str
    database: str
    path: tuple[tuple[str, str], ...]

    @property
    def collection_id(self) -> str:
        return self.path[-1][0]

    @property
    def document_path(self) -> str:
        return "/".join(f"{kind}/{name}" for kind, name in self.path)


@dataclass(frozen=True)
class ExportFile:
    """One object of an export, as read: path relative to the export folder."""

    path: str
    size: int
    sha256: str
    crc32c: str


@dataclass(frozen=True)
class ExportContents:
    """What an export holds. ``declared_documents`` is what its metadata claims (or None)."""

    prefix: str
    collections: Mapping[str, int]
    files: tuple[ExportFile, ...]
    declared_documents: int | None = None
    subcollection_documents: int = 0

    @property
    def documents(self) -> int:
        return sum(self.collections.values())

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def document_key(record: bytes, where: str) -> DocumentKey:
    """The key of one serialized ``EntityProto``."""
    try:
        for number, wire_type, value in wire.fields(record):
            if number == _ENTITY_KEY and wire_type == wire.LENGTH:
                assert isinstance(value, bytes)
                return _reference(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{where}: malformed entity record ({exc})") from None
    raise IntegrityError(f"{where}: entity record without a key")


def _reference(buf: bytes) -> DocumentKey:
    app, database, path = reference_parts(buf, _key_path)
    return DocumentKey(app, database, tuple(path))


def _key_path(buf: bytes) -> list[tuple[str, str]]:
    return [
        path_element(group)
        for number, _, group in wire.fields(buf)
        if number == _PATH_ELEMENT and isinstance(group, bytes)
    ]


def reference_parts(
    buf: bytes, elements: Callable[[bytes], list[tuple[str, str]]]
) -> tuple[str, str, list[tuple[str, str]]]:
    """``(app, database id, path)`` of a v3 reference: a key, or a reference value.

    Both lay out ``app`` (13), the path (14) and ``database_id`` (23) alike;
    ``elements`` reads the path field, which differs (a ``Path`` message of
    ``Element`` groups in a key, one ``PathElement`` group per field in a value).
    """
    app = database = ""
    path: list[tuple[str, str]] = []
    for number, _, value in wire.fields(buf):
        if number == _REFERENCE_APP and isinstance(value, bytes):
            app = value.decode()
        elif number == _REFERENCE_DATABASE and isinstance(value, bytes):
            database = value.decode()
        elif number == _REFERENCE_PATH and isinstance(value, bytes):
            path.extend(elements(value))
    if not path:
        raise ValueError("reference with an empty path")
    return app, database, path


def path_element(
    buf: bytes, numbers: tuple[int, int, int] = (_ELEMENT_TYPE, _ELEMENT_ID, _ELEMENT_NAME)
) -> tuple[str, str]:
    """``(collection id, document id)`` of a path element whose fields are ``numbers``."""
    type_number, id_number, name_number = numbers
    kind = name = ""
    for number, _, value in wire.fields(buf):
        if number == type_number and isinstance(value, bytes):
            kind = value.decode()
        elif number == name_number and isinstance(value, bytes):
            name = value.decode()
        elif number == id_number and isinstance(value, int):
            name = f"__id{value}__"  # how Firestore shows a numeric id as a document id
    return kind, name


def export_name(prefix: str) -> str:
    """The object name of an export folder's overall metadata file."""
    folder = prefix.rstrip("/")
    return f"{folder}/{posixpath.basename(folder)}{OVERALL_SUFFIX}"


@dataclass(frozen=True)
class Listed:
    """An object of an export folder as Cloud Storage lists it."""

    name: str
    size: int
    crc32c: str | None


def list_files(bucket: Bucket, prefix: str) -> dict[str, Listed]:
    """Every object under the export folder ``prefix``, by object name."""
    folder = prefix.rstrip("/") + "/"
    with storage.translate_errors(f"listing gs://{bucket.name}/{folder}"):
        blobs = bucket.client.list_blobs(bucket, prefix=folder, retry=storage.retry_policy())
        return {b.name: Listed(b.name, int(b.size or 0), b.crc32c) for b in blobs}


class _Reader:
    """Streams objects of one export folder, checksumming each against its stored CRC32C."""

    def __init__(self, bucket: Bucket, prefix: str) -> None:
        self.bucket = bucket
        self.folder = prefix.rstrip("/") + "/"
        self.listed = list_files(bucket, prefix)
        self.read: dict[str, ExportFile] = {}

    def where(self, name: str) -> str:
        return f"gs://{self.bucket.name}/{name}"

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[_Summing]:
        """A checksumming stream of ``name``, verified against Cloud Storage when closed."""
        if name not in self.listed:
            raise IntegrityError(f"{self.where(name)} is named by the export metadata but missing")
        with storage.open_download(self.bucket, name) as raw:
            stream = _Summing(raw)
            yield stream
            while stream.read(storage.DOWNLOAD_CHUNK_SIZE):  # whatever the caller left unread
                pass
        sums, listed = stream.sums, self.listed[name]
        if sums.size != listed.size or (listed.crc32c and sums.crc32c != listed.crc32c):
            raise IntegrityError(
                f"{self.where(name)}: read {sums.size} bytes with crc32c {sums.crc32c}, "
                f"but Cloud Storage holds {listed.size} bytes with crc32c {listed.crc32c}"
            )
        self.read[name] = ExportFile(name[len(self.folder) :], sums.size, sums.sha256, sums.crc32c)

    def records(self, name: str) -> Iterator[bytes]:
        with self.open(name) as stream:
            yield from wire.read_records(stream, self.where(name))

    def whole(self, name: str) -> bytes:
        with self.open(name) as stream:
            return stream.read()


class _Summing:
    """A read-only stream that feeds what passes through into :class:`storage.Checksums`."""

    def __init__(self, raw: wire.Readable) -> None:
        self._raw = raw
        self.sums = storage.Checksums()

    def read(self, size: int = -1, /) -> bytes:
        data = self._raw.read(size)
        self.sums.update(data)
        return data


def read_export(bucket: Bucket, prefix: str) -> ExportContents:
    """Count the documents of the export at ``gs://<bucket>/<prefix>/`` per collection group."""
    reader = _Reader(bucket, prefix)
    counts: Counter[str] = Counter()
    nested = 0
    declared = 0
    for data_name, entities in _data_files(reader):
        declared += entities
        for record in reader.records(data_name):
            key = document_key(record, reader.where(data_name))
            counts[key.collection_id] += 1
            nested += len(key.path) > 1
    for name in reader.listed:  # checksum what the metadata does not name, too
        if name not in reader.read:
            reader.whole(name)
    files = tuple(sorted(reader.read.values(), key=lambda f: f.path))
    return ExportContents(
        prefix=prefix.rstrip("/"),
        collections=dict(sorted(counts.items())),
        files=files,
        declared_documents=declared,
        subcollection_documents=nested,
    )


@dataclass(frozen=True)
class Position:
    """Where a document is in an export: its data file's object name and its record index."""

    file: str
    record: int


def entity_records(
    bucket: Bucket, prefix: str, start: Position | None = None
) -> Iterator[tuple[Position, bytes]]:
    """Every document record of the export in a stable order, from ``start`` on (inclusive).

    Each data file is checked against its CRC32C as it is read; files before
    ``start``'s are not read at all, so a long pass resumes where it stopped.
    """
    reader = _Reader(bucket, prefix)
    names = [name for name, _ in _data_files(reader)]
    if start is not None and start.file not in names:
        raise IntegrityError(f"{reader.where(start.file)} is not a data file of this export")
    if start is not None:
        names = names[names.index(start.file) :]
    for name in names:
        first = start.record if start is not None and name == start.file else 0
        for index, record in enumerate(reader.records(name)):
            if index >= first:
                yield Position(name, index), record


def _data_files(reader: _Reader) -> Iterator[tuple[str, int]]:
    """``(object name, declared entities of its entity set)`` of each data file, in order."""
    overall = export_name(reader.folder)
    if overall not in reader.listed:
        raise IntegrityError(
            f"{reader.where(overall)} does not exist: gs://{reader.bucket.name}/{reader.folder} "
            "is not a complete export"
        )
    records = list(reader.records(overall))
    if not records or records[0] != METADATA_VERSION:
        version = records[0][:16] if records else b"(empty file)"
        raise UnknownFormatError(f"{reader.where(overall)}: unknown export version {version!r}")
    for pointer in _messages(records[1:], _OVERALL_POINTER, reader.where(overall)):
        metadata_name = _resolve(overall, _string(pointer, _POINTER_FILE))
        declared = _integer(pointer, _POINTER_ENTITIES)
        backup = reader.whole(metadata_name)
        for kind_info in _messages([backup], _BACKUP_KIND_INFO, reader.where(metadata_name)):
            for relative in _strings(kind_info, _KIND_INFO_FILE):
                yield _resolve(metadata_name, relative), declared
                declared = 0


def _resolve(referrer: str, relative: str) -> str:
    if not relative or relative.startswith("/") or ".." in relative.split("/"):
        raise IntegrityError(f"{referrer} names an unexpected path {relative!r}")
    return posixpath.join(posixpath.dirname(referrer), relative)


def _messages(buffers: list[bytes], number: int, where: str) -> Iterator[bytes]:
    try:
        for buffer in buffers:
            for n, wire_type, value in wire.fields(buffer):
                if n == number and wire_type == wire.LENGTH and isinstance(value, bytes):
                    yield value
    except ValueError as exc:
        raise IntegrityError(f"{where}: malformed export metadata ({exc})") from None


def _strings(buf: bytes, number: int) -> list[str]:
    return [v.decode() for n, _, v in wire.fields(buf) if n == number and isinstance(v, bytes)]


def _string(buf: bytes, number: int) -> str:
    found = _strings(buf, number)
    return found[0] if found else ""


def _integer(buf: bytes, number: int) -> int:
    return next((v for n, _, v in wire.fields(buf) if n == number and isinstance(v, int)), 0)
