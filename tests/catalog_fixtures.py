"""Helpers of the catalog tests: runs written to a bucket as a target writes them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared import storage
from shared.backup_end import commit
from shared.manifest import Artifact, Manifest, RunLocation, new_run_id


def run(
    bucket: Any, tier: str, when: datetime, status: str | None = "succeeded", prefix: str = ""
) -> RunLocation:
    """A run with one artifact; ``status=None`` leaves it without a manifest (incomplete)."""
    location = RunLocation(prefix, "mongodb", tier, new_run_id(when))
    written: list[storage.StoredObject] = []
    with storage.upload_stream(
        bucket, location.path("dump.bin"), "application/octet-stream", written
    ) as sink:
        sink.write(b"x" * 1000)
    if status is not None:
        artifact = written[0]
        commit(
            bucket,
            Manifest(
                location=location,
                status=status,
                started=when,
                finished=when + timedelta(minutes=5),
                source={"database": "eyewear_ml"},
                artifacts=(
                    Artifact(artifact.name, artifact.size, artifact.sha256, artifact.crc32c),
                ),
                counts={"documents": 3},
            ),
        )
    return location
