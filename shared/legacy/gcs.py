"""Registering copies made by ``gsutil rsync`` (the old gcs_backup.sh) as a snapshot.

The old script copied each source bucket into a dated folder of the backup
bucket. Those copies already are what a snapshot points at: the import lists
the folder and writes a snapshot in the product's format (one line per
object: its name in the source bucket, the copy's path, size, CRC32C, MD5,
content type and metadata), then the manifest. Restores, point-in-time
ones included, then work on it as on any snapshot, rewriting from the
copies in place. New backups never take an imported snapshot as their base
(see ``shared.gcs.lister.latest_snapshot``), so nothing new ever depends on
copies the old scripts' retention may delete.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from shared import storage
from shared.errors import BackupNotFound, RequestError
from shared.gcs.run import TARGET, check_bucket_name, snapshot_path
from shared.gcs.snapshot import JSONL, LIST_FIELDS, ObjectEntry
from shared.legacy import dated, gsurl
from shared.manifest import Artifact, Manifest

if TYPE_CHECKING:
    from google.cloud.storage import Bucket


def import_copies(
    backups: Bucket, url: str, source_bucket: str, *, tier: str, when: datetime, now: datetime
) -> Manifest:
    """A snapshot of ``source_bucket`` as the copies under ``url`` hold it, in ``backups``."""
    bucket_name, folder = gsurl.split(url, "the copies' folder")
    check_bucket_name(source_bucket, "--source-bucket")
    if bucket_name != backups.name:
        raise RequestError(
            f"{url} is not in the backup bucket gs://{backups.name} (GCS_BACKUP_BUCKET): a "
            "snapshot can only point at copies kept there"
        )
    prefix = folder + "/"
    with storage.translate_errors(f"listing {url}"):
        blobs = list(
            backups.client.list_blobs(
                backups, prefix=prefix, fields=LIST_FIELDS, retry=storage.retry_policy()
            )
        )
    entries = sorted(
        (
            replace(
                ObjectEntry.from_blob(source_bucket, blob),
                name=blob.name[len(prefix) :],
                copy=blob.name,
            )
            for blob in blobs
            if blob.name != prefix
        ),
        key=lambda entry: entry.name,
    )
    if not entries:
        raise BackupNotFound(f"no objects under gs://{backups.name}/{prefix}: nothing to import")
    data = b"".join(entry.line() for entry in entries)
    sums = storage.Checksums()
    sums.update(data)
    location = dated.location("", TARGET, tier, when, sums.sha256)
    path = snapshot_path(location, source_bucket)
    with storage.translate_errors(f"gs://{backups.name}/{path}"):
        backups.blob(path).upload_from_string(
            data, content_type=JSONL, if_generation_match=0, retry=storage.retry_policy()
        )
    total = sum(entry.size for entry in entries)
    summary = {"objects": len(entries), "bytes": total, "copied": 0, "reused": len(entries)}
    return dated.commit(
        backups,
        location,
        imported={"format": "gsutil rsync copies", "original": f"gs://{backups.name}/{prefix}"},
        now=now,
        source={"project": None, "buckets": [source_bucket]},
        artifacts=(Artifact(path, sums.size, sums.sha256, sums.crc32c),),
        counts={**summary, "buckets": 1},
        details={
            "buckets": {source_bucket: {**summary, "shards": 0, "snapshot": path}},
            "critical": {"verified": [], "problems": []},
        },
    )
