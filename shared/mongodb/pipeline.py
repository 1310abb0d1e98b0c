"""The stages between the tar stream and Cloud Storage, in both directions.

Writing: tar → zstd → AES-256-GCM STREAM → resumable upload, nothing on disk
(Cloud Run's disk is memory). If the block raises, the encryption stream is
abandoned without its final segment and the upload session is cancelled, so
a failed dump leaves no object behind. Reading: download → checksum of the
stored bytes → decryption (key looked up and checked first) → decompression.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from shared import compression, storage
from shared.crypto import DecryptingReader, EncryptingWriter, Key, Keyring, Readable
from shared.errors import BackupNotFound, IntegrityError
from shared.manifest import Artifact, Manifest
from shared.mongodb.tarwriter import TarWriter

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

ARCHIVE_NAME = "dump.tar.zst.ewdr"
CONTENT_TYPE = "application/octet-stream"
READ_BUFFER = 1024 * 1024


@contextlib.contextmanager
def upload_archive(
    bucket: Bucket,
    object_name: str,
    key: Key,
    *,
    level: int,
    mtime: int,
    part_size: int,
    buffers: int,
    stored: list[storage.StoredObject],
) -> Iterator[TarWriter]:
    """A :class:`TarWriter` whose members end up encrypted in ``object_name``."""
    with (
        storage.upload_stream(bucket, object_name, CONTENT_TYPE, stored) as raw,
        EncryptingWriter(raw, key) as encrypted,
    ):
        compressed = compression.compressing_writer(encrypted, level)
        tar = TarWriter(compressed, mtime, part_size, buffers)
        try:
            yield tar
            tar.finish()
        finally:
            tar.close()
        compressed.close()


class _ChecksummingReader(io.RawIOBase):
    """Passes a source through, checksumming every byte read."""

    def __init__(self, source: Readable) -> None:
        super().__init__()
        self._source = source
        self.checksums = storage.Checksums()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        self.checksums.update(data)
        return len(data)


@dataclass
class ArchiveStream:
    """The plaintext tar stream of one archive, and what is known about its stored bytes."""

    plaintext: io.BufferedReader
    key_id: str
    _tap: _ChecksummingReader

    def check_stored(self, artifact: Artifact, where: str) -> None:
        """After reading to the end: the bytes read are the ones the manifest lists."""
        sums = self._tap.checksums
        if (sums.size, sums.sha256) != (artifact.size, artifact.sha256):
            raise IntegrityError(
                f"{where}: archive is {sums.size} bytes with SHA-256 {sums.sha256}; the "
                f"manifest lists {artifact.size} bytes with SHA-256 {artifact.sha256}"
            )


def open_archive(source: Readable, keyring: Keyring) -> ArchiveStream:
    """Start reading an archive: the key is found and checked before anything is decrypted."""
    return _unwrap(_ChecksummingReader(source), keyring)


def _unwrap(tap: _ChecksummingReader, keyring: Keyring) -> ArchiveStream:
    decrypted = DecryptingReader(cast(Readable, tap), keyring)
    plaintext = compression.decompressing_reader(decrypted)
    return ArchiveStream(io.BufferedReader(plaintext, READ_BUFFER), decrypted.header.key_id, tap)


def open_stored(
    bucket: Bucket, object_name: str, generation: int | None, keyring: Keyring
) -> ArchiveStream:
    """:func:`open_archive` on a Cloud Storage object generation (None: the live one)."""
    generation = _existing_generation(bucket, object_name, generation)
    return open_archive(storage.open_download(bucket, object_name, generation), keyring)


def _existing_generation(bucket: Bucket, object_name: str, generation: int | None) -> int:
    """``generation``, or the live one's; BackupNotFound naming the object when there is none.

    A missing object is not a download error: a failed or killed run has no
    archive, and a mistyped run id names none.
    """
    if generation is not None:
        return generation
    with storage.translate_errors(f"gs://{bucket.name}/{object_name}"):
        blob = bucket.get_blob(object_name)
    if blob is None:
        raise BackupNotFound(
            f"gs://{bucket.name}/{object_name} does not exist: that run has no archive "
            "(it failed, was cut short, or the path or run id is wrong)"
        )
    return int(blob.generation)


def archive_object(manifest: Manifest) -> str:
    """The object holding a backup's archive (ours, or an imported dump's stored bytes).

    A failed run lists no artifact; its archive's usual name then leads to a
    BackupNotFound naming the missing object, not to an index error.
    """
    name = manifest.artifacts[0].path if manifest.artifacts else ARCHIVE_NAME
    return manifest.location.path(name)


def open_backup(
    bucket: Bucket,
    manifest: Manifest,
    generation: int | None,
    keyring: Keyring,
    key_files: Sequence[str] = (),
) -> ArchiveStream:
    """The one place a restore opens a backup's archive, whatever wrote it.

    A dump made by the old scripts and registered by ``dr import`` (its
    manifest says ``imported``) is read by :mod:`shared.legacy`, which turns
    it into this same tar stream on the fly; ``key_files`` are the
    ENCRYPTION_KEY_FILE paths, whose first lines are the old scripts'
    ``openssl enc`` passphrases.
    """
    name = archive_object(manifest)
    generation = _existing_generation(bucket, name, generation)
    tap = _ChecksummingReader(storage.open_download(bucket, name, generation))
    if not manifest.details.get("imported"):
        return _unwrap(tap, keyring)
    from shared.legacy.mongo import open_imported  # imported backups only

    where = f"gs://{bucket.name}/{name}"
    plaintext = open_imported(cast(Readable, tap), manifest, key_files, where)
    return ArchiveStream(plaintext, manifest.key_id or "", tap)
