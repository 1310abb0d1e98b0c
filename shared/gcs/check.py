"""Checking a Cloud Storage snapshot in place: its object lists, then the copies they point at.

Three levels, as restic's ``check`` has: the snapshot files are always read
in full and compared with the manifest (size, SHA-256, CRC32C); every copy
is looked up and its size and checksums compared with the snapshot's entry
(metadata only, cheap); with ``read_data`` every copy, or with ``sample`` a
fraction of them, is also downloaded and its CRC32C computed from the bytes,
which catches a copy whose stored checksum no longer describes its content.
The sample is chosen by a hash of each copy's path, so repeating a check
reads the same copies, and a larger percentage reads a superset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from shared import storage
from shared.errors import DRError, IntegrityError
from shared.gcs.reader import READ_CHUNK, read_snapshot
from shared.gcs.snapshot import ObjectEntry
from shared.manifest import Manifest
from shared.verification import CheckResult

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

WORKERS = 16
MAX_PROBLEMS = 50


def sampled(copy: str, percent: float) -> bool:
    """Whether ``copy`` is in a ``percent`` % sample (stable across runs)."""
    bucket = int.from_bytes(hashlib.sha256(copy.encode("utf-8")).digest()[:4], "big") % 10_000
    return bucket < percent * 100


def check_snapshot(
    bucket: Bucket, manifest: Manifest, *, read_data: bool = False, sample: float = 0.0
) -> CheckResult:
    """Check the snapshot ``manifest`` describes; ``sample`` is a percentage (0-100)."""
    where = f"gs://{bucket.name}/{manifest.location.manifest_path}"
    problems: list[str] = []
    entries: list[ObjectEntry] = []
    for artifact in manifest.artifacts:
        try:
            entries.extend(read_snapshot(bucket, artifact))
        except IntegrityError as exc:
            problems.append(str(exc))
    percent = 100.0 if read_data else sample
    with ThreadPoolExecutor(WORKERS) as pool:
        for problem in pool.map(lambda entry: _check_copy(bucket, entry, percent), entries):
            if problem:
                problems.append(problem)
    read = sum(sampled(entry.copy, percent) for entry in entries)
    checked = [
        f"{len(manifest.artifacts)} snapshot file(s) read in full against the manifest "
        "(size, SHA-256, CRC32C)",
        f"{len(entries)} copies looked up: size, CRC32C and MD5 against the snapshot",
    ]
    if read:
        checked.append(f"{read} copies downloaded and their CRC32C computed from the bytes")
    shown = problems[:MAX_PROBLEMS]
    if len(problems) > MAX_PROBLEMS:
        shown.append(f"... and {len(problems) - MAX_PROBLEMS} more")
    return CheckResult("gcs", where, tuple(checked), tuple(shown))


def _check_copy(bucket: Bucket, entry: ObjectEntry, percent: float) -> str | None:
    where = f"gs://{bucket.name}/{entry.copy}"
    try:
        with storage.translate_errors(where):
            blob = bucket.get_blob(entry.copy, retry=storage.retry_policy())
        if blob is None:
            return f"{where} is missing (the copy of {entry.name})"
        if not entry.stored_as(blob):
            return (
                f"{where} differs from the snapshot: {blob.size} bytes, crc32c {blob.crc32c}, "
                f"md5 {blob.md5_hash}; snapshot says {entry.describe_sums()}"
            )
        if percent > 0 and sampled(entry.copy, percent):
            sums = storage.Checksums()
            for chunk in _chunks(bucket, entry.copy, blob.generation):
                sums.update(chunk)
            if (sums.size, sums.crc32c) != (entry.size, entry.crc32c):
                return (
                    f"{where} content does not match its checksums: read {sums.size} bytes "
                    f"with crc32c {sums.crc32c}; snapshot says {entry.describe_sums()}"
                )
    except DRError as exc:
        return f"{where}: {exc}"
    return None


def _chunks(bucket: Bucket, name: str, generation: int | None) -> Iterator[bytes]:
    """The stored bytes, as stored: a gzip-encoded copy is not decompressed on the way."""
    blob = bucket.blob(name, generation=generation)
    opened = storage.translate_errors(f"gs://{bucket.name}/{name}")
    with opened, blob.open("rb", raw_download=True, retry=storage.retry_policy()) as reader:
        while chunk := reader.read(READ_CHUNK):
            yield chunk
