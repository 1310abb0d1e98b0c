"""Server-side copies of one object, safe to repeat and checked against the listing.

A copy is a Cloud Storage rewrite of *the listed generation* (``sourceGeneration``)
to its copy path, created only if absent (``if_generation_match=0``), with
:func:`shared.storage.retry_policy` retrying 429/5xx. So:

* repeating a copy (a redelivered shard, a retried request whose answer was
  lost) meets the precondition (412): the copy exists, and is accepted after
  its size and checksums are compared with the listing;
* an object **deleted after listing** makes the rewrite fail with 404 and a
  fresh look finds nothing: it is left out of this snapshot (reported as
  ``vanished``; older snapshots still hold it);
* an object **rewritten after listing** also fails with 404 (its listed
  generation is gone): the new generation is copied instead and recorded in
  the snapshot with its own checksums and metadata (reported as ``changed``).
  The snapshot thus holds, for every object, a generation that really existed
  during the run, with metadata and checksums that belong to those bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared import storage
from shared.errors import DRError, IntegrityError
from shared.gcs.snapshot import LIST_PROJECTION, ObjectEntry

if TYPE_CHECKING:
    from google.cloud.storage import Blob, Bucket

log = logging.getLogger(__name__)

MAX_GENERATION_CHASES = 3  # an object rewritten faster than it can be copied fails, loudly


def rewrite(source: Blob, destination: Blob, if_generation_match: int) -> None:
    """Rewrite ``source`` onto ``destination``, following rewrite tokens for large objects.

    Retried (429/5xx) only under the destination precondition, which makes
    every attempt idempotent. ``destination`` holds the final object's
    properties afterwards.
    """
    token: str | None = None
    while True:
        token, _, _ = destination.rewrite(
            source,
            token=token,
            if_generation_match=if_generation_match,
            retry=storage.retry_policy(),
        )
        if token is None:
            return


@dataclass(frozen=True)
class CopyOutcome:
    """``kind`` is ``copied``, ``existing``, ``vanished`` or ``failed``."""

    name: str
    kind: str
    entry: ObjectEntry | None = None
    changed: bool = False
    error: str | None = None


def copy_entry(source: Bucket, backup: Bucket, listed: ObjectEntry) -> CopyOutcome:
    """Copy one listed object into ``backup``; failures are returned, never raised."""
    from google.api_core import exceptions

    entry = listed
    try:
        for _ in range(MAX_GENERATION_CHASES):
            kind = _copy_generation(source, backup, entry)
            if kind is not None:
                return CopyOutcome(listed.name, kind, entry, changed=entry is not listed)
            live = _live(source, entry.name)
            if live is None:
                log.warning(
                    "gs://%s/%s was deleted during the backup; it is not in this snapshot",
                    source.name,
                    entry.name,
                )
                return CopyOutcome(listed.name, "vanished")
            if int(live.generation or 0) == entry.generation:
                raise DRError(f"copy to gs://{backup.name}/{entry.copy} was refused as not found")
            entry = ObjectEntry.from_blob(source.name, live)
            log.info(
                "gs://%s/%s changed during the backup; copying generation %d",
                source.name,
                entry.name,
                entry.generation,
            )
        raise IntegrityError(f"changed {MAX_GENERATION_CHASES} times while being copied")
    except (DRError, exceptions.GoogleAPIError, OSError) as exc:
        log.warning("gs://%s/%s could not be copied: %s", source.name, listed.name, exc)
        return CopyOutcome(listed.name, "failed", error=f"{type(exc).__name__}: {exc}")


def _live(source: Bucket, name: str) -> Blob | None:
    """The object's live generation with every property (ACLs too, where readable)."""
    from google.api_core import exceptions

    blob = source.blob(name)
    try:
        blob.reload(projection=LIST_PROJECTION, retry=storage.retry_policy())
    except exceptions.NotFound:
        return None
    return blob


def _copy_generation(source: Bucket, backup: Bucket, entry: ObjectEntry) -> str | None:
    """``copied`` or ``existing``; ``None`` when that generation is gone from the source."""
    from google.api_core import exceptions

    destination = backup.blob(entry.copy)
    kind = "copied"
    try:
        rewrite(source.blob(entry.name, generation=entry.generation), destination, 0)
    except exceptions.NotFound:
        return None
    except exceptions.PreconditionFailed:
        kind = "existing"
        found = backup.get_blob(entry.copy, retry=storage.retry_policy())
        if found is None:
            raise IntegrityError(
                f"copy gs://{backup.name}/{entry.copy} exists and does not"
            ) from None
        destination = found
    if not entry.stored_as(destination):
        raise IntegrityError(
            f"copy gs://{backup.name}/{entry.copy} holds {destination.size} bytes, crc32c "
            f"{destination.crc32c}; the listing says {entry.describe_sums()}"
        )
    return kind
