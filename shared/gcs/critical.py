"""Critical files (``GCS_CRITICAL_FILES``): objects a backup is worthless without.

An entry is ``gs://bucket/path``, ``bucket/path`` when ``bucket`` is one of
the source buckets, or a bare path as in the guide
(``models/face-analysis-v2.0/model.pb``), meaning "in whichever source bucket
holds it". After the copy, each must be in the snapshot, its copy must hold
the snapshot's bytes, and the snapshot's checksums must equal the source
object's now; otherwise the run fails and the report names the file and
what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared import storage
from shared.errors import ConfigError
from shared.gcs.snapshot import ObjectEntry

if TYPE_CHECKING:
    from google.cloud.storage import Bucket, Client

KEY = "GCS_CRITICAL_FILES"


@dataclass(frozen=True)
class CriticalFile:
    spec: str
    bucket: str | None
    path: str

    @classmethod
    def parse(cls, spec: str, source_buckets: Sequence[str]) -> CriticalFile:
        bucket: str | None
        if spec.startswith("gs://"):
            bucket, _, path = spec[len("gs://") :].partition("/")
            if bucket not in source_buckets:
                raise ConfigError(
                    f"{KEY}: {spec!r} names bucket {bucket!r}, which is not one of the "
                    f"source buckets ({', '.join(source_buckets)})"
                )
        else:
            head, _, rest = spec.partition("/")
            bucket, path = (head, rest) if head in source_buckets and rest else (None, spec)
        if not path or path.endswith("/"):
            raise ConfigError(
                f"{KEY}: {spec!r} does not name an object (expected e.g. bucket/path/file)"
            )
        return cls(spec, bucket, path)

    def buckets(self, source_buckets: Sequence[str]) -> tuple[str, ...]:
        return (self.bucket,) if self.bucket else tuple(source_buckets)


def parse_all(specs: Sequence[str], source_buckets: Sequence[str]) -> list[CriticalFile]:
    return [CriticalFile.parse(spec, source_buckets) for spec in specs]


def wanted(files: Sequence[CriticalFile], bucket: str, source_buckets: Sequence[str]) -> set[str]:
    """The object names of ``bucket`` the check will ask about."""
    return {f.path for f in files if bucket in f.buckets(source_buckets)}


def check(
    client: Client,
    backup: Bucket,
    files: Sequence[CriticalFile],
    source_buckets: Sequence[str],
    found: Mapping[str, Mapping[str, ObjectEntry]],
) -> tuple[list[str], list[str]]:
    """``(verified, problems)``: one line per file, naming what is missing or different."""
    verified: list[str] = []
    problems: list[str] = []
    for critical in files:
        hits = [
            (bucket, found[bucket][critical.path])
            for bucket in critical.buckets(source_buckets)
            if critical.path in found.get(bucket, {})
        ]
        if not hits:
            where = f"gs://{critical.bucket}" if critical.bucket else "any source bucket"
            problems.append(f"{critical.spec}: missing from the snapshot (not found in {where})")
            continue
        for bucket, entry in hits:
            problem = _compare(client.bucket(bucket), backup, entry)
            if problem:
                problems.append(f"{critical.spec} (gs://{bucket}/{entry.name}): {problem}")
            else:
                verified.append(f"gs://{bucket}/{entry.name}")
    return verified, problems


def _compare(source: Bucket, backup: Bucket, entry: ObjectEntry) -> str | None:
    with storage.translate_errors(f"checking gs://{source.name}/{entry.name}"):
        live = source.get_blob(entry.name, retry=storage.retry_policy())
        copy = backup.get_blob(entry.copy, retry=storage.retry_policy())
    if copy is None or not entry.stored_as(copy):
        return f"its copy gs://{backup.name}/{entry.copy} is missing or differs from the snapshot"
    if live is None:
        return "deleted from the source during the backup"
    if not entry.stored_as(live):
        live_sums = f"{live.size} bytes, crc32c {live.crc32c}, md5 {live.md5_hash}"
        return (
            f"differs from the source (snapshot: {entry.describe_sums()}; source now: {live_sums})"
        )
    return None
