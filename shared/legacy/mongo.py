"""Legacy MongoDB dumps: imported into the catalog, and opened for a restore.

``import_dump`` reads a dump where the old scripts left it (a file, or a
directory) twice: once to check it end to end (key, layers, every document,
giving the manifest's counts and hashes) and once to upload its bytes
unchanged into a run directory. Only then is the manifest committed, marked
``imported``. A dump that cannot be read fails in the first pass, before
anything is written. The run id ends with the first 8 hex digits of the
file's SHA-256, so importing the same file twice names the same run and the
second import is refused as a duplicate.

:func:`open_imported` is what the MongoDB restore calls for such a manifest
(``shared.mongodb.pipeline.open_backup``): the stored bytes, read again with
the same layers, as the product's own tar stream.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from shared import storage
from shared.crypto import Readable
from shared.errors import (
    ConfigError,
    ConflictError,
    IntegrityError,
    KeyNotFoundError,
    NotFound,
    RequestError,
)
from shared.legacy import dated, layers, mongoarchive, mongodir
from shared.legacy.chunks import ChunkSource, buffered
from shared.legacy.openssl import Passphrase, read_passphrase
from shared.legacy.tarstream import Event, TarStream
from shared.manifest import Artifact, Manifest
from shared.mongodb import names
from shared.mongodb.archive import FORMAT, drain
from shared.mongodb.bsonio import ContentHash
from shared.mongodb.request import TARGET

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

FORMATS = {"archive": "mongodump-archive", "tar": "mongodump-directory"}
CONTENT_TYPE = "application/octet-stream"
READ_CHUNK = 1024 * 1024
NOT_CONSISTENT = "imported from the old scripts, whose dumps have no consistent point in time"


def convert(
    source: Readable, passphrases: Sequence[Passphrase], where: str
) -> tuple[TarStream, layers.Unwrapped]:
    """The dump in ``source`` as the product's tar stream (read it to the end for the records)."""
    unwrapped = layers.unwrap(source, passphrases, where)
    reader = mongoarchive.events if unwrapped.kind == "archive" else mongodir.events
    return TarStream(_to_the_end(reader(unwrapped.stream, where), unwrapped), where), unwrapped


def _to_the_end(events: Iterator[Event], unwrapped: layers.Unwrapped) -> Iterator[Event]:
    """The events, then the rest of the stream, so every layer checks its own end."""
    yield from events
    drain(unwrapped.stream)


def open_imported(
    source: Readable, manifest: Manifest, key_files: Sequence[str], where: str
) -> io.BufferedReader:
    """An imported backup's stored bytes as the tar stream the restore reads."""
    passphrases = []
    if manifest.key_id:
        passphrases = [p for p in map(read_passphrase, key_files) if p.key_id == manifest.key_id]
        if not passphrases:
            raise KeyNotFoundError(
                f"{where} was encrypted by the old scripts with passphrase {manifest.key_id}, "
                "which none of the files in ENCRYPTION_KEY_FILE holds; list the old key file there"
            )
    tar, _ = convert(source, passphrases, where)
    return buffered(tar)


class _Tap(ChunkSource):
    def __init__(self, source: BinaryIO, sums: storage.Checksums) -> None:
        super().__init__()
        self._source = source
        self.sums = sums

    def next_chunk(self) -> bytes:
        chunk = self._source.read(READ_CHUNK)
        self.sums.update(chunk)
        return chunk


class _DirectoryTar(ChunkSource):
    """A plain dump directory as a tar stream: sorted, regular files, each checked for size."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self._chunks = self._generate(root)

    def next_chunk(self) -> bytes:
        return next(self._chunks, b"")

    @staticmethod
    def _generate(root: Path) -> Iterator[bytes]:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(f"{root.name}/{path.relative_to(root).as_posix()}")
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            sent = 0
            with path.open("rb") as stream:
                while sent < info.size and (
                    chunk := stream.read(min(READ_CHUNK, info.size - sent))
                ):
                    sent += len(chunk)
                    yield chunk
            if sent != info.size:
                raise IntegrityError(f"{path} changed while it was being imported")
            if padding := -sent % tarfile.BLOCKSIZE:
                yield b"\0" * padding
        yield b"\0" * (2 * tarfile.BLOCKSIZE)


def _open(path: Path) -> BinaryIO:
    if path.is_dir():
        return buffered(_DirectoryTar(path))
    try:
        return path.open("rb")
    except OSError as error:
        raise RequestError(f"cannot read {path}: {error.strerror}") from None


def import_dump(
    bucket: Bucket,
    prefix: str,
    path: Path,
    *,
    tier: str,
    when: datetime,
    key_files: Sequence[str],
    now: datetime,
) -> Manifest:
    """Check ``path`` end to end, upload its bytes unchanged, commit an ``imported`` manifest."""
    if not path.exists():
        raise NotFound(f"{path} does not exist: nothing to import")
    where = str(path)
    passphrases = [read_passphrase(f) for f in key_files]
    sums = storage.Checksums()
    with _open(path) as raw:
        tar, unwrapped = convert(buffered(_Tap(raw, sums)), passphrases, where)
        drain(buffered(tar))
    details = _details(tar, unwrapped, path, where)
    location = dated.location(prefix, TARGET, tier, when, sums.sha256)
    if storage.read_json(bucket, location.manifest_path) is not None:
        raise ConflictError(f"{path} is already imported: gs://{bucket.name}/{location.directory}")
    stored_name = path.name + (".tar" if path.is_dir() else "")
    object_name = location.path(stored_name)
    storage.delete(bucket, object_name)  # left by an interrupted import of these very bytes
    stored: list[storage.StoredObject] = []
    with (
        _open(path) as raw,
        storage.upload_stream(bucket, object_name, CONTENT_TYPE, stored) as out,
    ):
        while chunk := raw.read(READ_CHUNK):
            out.write(chunk)
    if stored[0].sha256 != sums.sha256:
        storage.delete(bucket, object_name)
        raise IntegrityError(f"{path} changed while it was being imported; nothing was registered")
    imported = {**details.pop("imported"), "object": stored_name}
    return dated.commit(
        bucket,
        location,
        imported=imported,
        now=now,
        source={"imported_from": where, "databases": details["databases"]},
        artifacts=(Artifact(stored_name, stored[0].size, stored[0].sha256, stored[0].crc32c),),
        counts={ns: int(c["count"]) for ns, c in details["collections"].items() if c["file"]},
        key_id=unwrapped.key.passphrase.key_id if unwrapped.key else None,
        compression="gzip" if "gzip" in unwrapped.layers else None,
        details=details,
    )


def _details(tar: TarStream, unwrapped: layers.Unwrapped, path: Path, where: str) -> dict[str, Any]:
    specs, files, contents = tar.specs(), tar.files(), tar.contents()
    described = {spec.data_path for spec in specs.values()}
    orphans = sorted(p for p in contents if p != names.OPLOG and p not in described)
    if orphans:
        raise IntegrityError(f"{where}: {', '.join(orphans[:5])} has no metadata file in the dump")
    if not specs:
        raise IntegrityError(f"{where}: the dump holds no collections")
    empty = ContentHash()
    collections = {}
    for namespace, spec in sorted(specs.items()):
        content = contents.get(spec.data_path or "", empty)
        collections[namespace] = {
            "type": spec.kind,
            "file": spec.data_path,
            "count": content.count if spec.data_path else 0,
            "content_hash": content.hexdigest,
            "dropped_during_dump": False,
        }
    has_oplog = names.OPLOG in files
    return {
        "archive_format": FORMAT,
        "databases": sorted({spec.db for spec in specs.values()}),
        "collections": collections,
        "files": {p: record.to_json() for p, record in sorted(files.items())},
        "point_in_time": False,
        "point_in_time_note": NOT_CONSISTENT
        + ("; its oplog is kept, not replayed" if has_oplog else ""),
        "consistent_time": None,
        "oplog": {},
        "dropped_during_dump": [],
        "imported": {
            "format": FORMATS[unwrapped.kind],
            "original": str(path.resolve()),
            "layers": list(unwrapped.layers)
            + (["tar (packed by the import)"] if path.is_dir() else []),
            "key_derivation": unwrapped.key.derivation if unwrapped.key else None,
            "described_as": unwrapped.description,
        },
    }


def passphrase_files(values: Sequence[str], fallback: Sequence[str]) -> list[str]:
    """Key files given on the command line, else ENCRYPTION_KEY_FILE's."""
    files = list(values) or list(fallback)
    for name in files:
        if not Path(name).is_file():
            raise ConfigError(f"key file {name} does not exist")
    return files
