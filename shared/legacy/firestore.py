"""Registering an export made by ``gcloud firestore export`` (the old firestore_backup.sh).

The export stays where it is, at any prefix of any bucket the restore can
read; the manifest points the Firestore restore at it (``output_uri_prefix``)
and records what its files hold, read with :mod:`shared.firestore.exportfile`
(documents per collection group, each file's SHA-256 and CRC32C). A folder
that is not a complete, readable export is refused before anything is
written.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from shared.firestore import exportfile
from shared.firestore.backup_record import EXPORT_FOLDER
from shared.firestore.request import TARGET
from shared.legacy import dated, gsurl
from shared.manifest import Artifact, Manifest

if TYPE_CHECKING:
    from google.cloud.storage import Bucket, Client

KIND_PREFIX = "kind_"
CONSISTENCY = (
    "imported from the old scripts: an export without snapshot_time, which may include "
    "changes made while it ran"
)


def import_export(
    client: Client,
    backups: Bucket,
    url: str,
    *,
    database: str,
    tier: str,
    when: datetime,
    now: datetime,
) -> Manifest:
    """Read the export at ``url`` end to end and commit a manifest for it in ``backups``."""
    bucket_name, folder = gsurl.split(url, "the export folder")
    contents = exportfile.read_export(client.bucket(bucket_name), folder)
    digest = hashlib.sha256(
        "".join(
            f"{f.path}:{f.sha256}\n" for f in sorted(contents.files, key=lambda f: f.path)
        ).encode()
    ).hexdigest()
    location = dated.location("", TARGET, tier, when, digest)
    kinds = sorted(
        {
            part[len(KIND_PREFIX) :]
            for f in contents.files
            for part in f.path.split("/")
            if part.startswith(KIND_PREFIX)
        }
    )
    return dated.commit(
        backups,
        location,
        imported={"format": "gcloud firestore export", "original": f"gs://{bucket_name}/{folder}"},
        now=now,
        source={
            "database": database,
            "collection_ids": kinds,
            "output_uri_prefix": f"gs://{bucket_name}/{folder}",
            "point_in_time_recovery": False,
            "snapshot_time": None,
            "consistency": CONSISTENCY,
        },
        artifacts=tuple(
            Artifact(f"{EXPORT_FOLDER}/{f.path}", f.size, f.sha256, f.crc32c)
            for f in contents.files
        ),
        counts=dict(contents.collections),
        details={
            "counted": True,
            "counted_documents": contents.documents,
            "subcollection_documents": contents.subcollection_documents,
            "declared_documents": contents.declared_documents,
        },
    )
