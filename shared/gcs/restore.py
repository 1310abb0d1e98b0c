"""Restore a source bucket from a snapshot: the guide's three forms, test mode and dry run.

``gcs_restore.sh --source-bucket B`` (the latest snapshot of B back into B),
``--version-date D`` (the newest snapshot at or before D) and
``--target-bucket T`` (into T instead) map one for one onto
:func:`restore_bucket`'s ``source_bucket``, ``version_date`` and
``target_bucket``; ``--test-mode`` restores into a temporary bucket, verifies
every object against the snapshot and deletes the bucket again.

Overwriting a production bucket (the source itself, any configured source
bucket, or any bucket that already holds objects) needs ``confirm`` equal to
that bucket's name, checked here and not only by the dispatcher, so library
use is as safe as a ``dr-restore`` message. Nothing is deleted unless ``delete_extra`` is asked.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from shared import storage
from shared.catalog import Catalog
from shared.config import GcsSettings
from shared.dates import parse_version_date
from shared.errors import BackupNotFound, RefusedError, RequestError
from shared.gcs import restorer
from shared.gcs.context import GcsContext
from shared.gcs.reader import read_snapshot
from shared.gcs.run import TARGET, check_bucket_name, snapshot_path
from shared.gcs.snapshot import ObjectEntry
from shared.manifest import Artifact, Manifest
from shared.target import LogProgress, Progress, RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.storage import Blob, Client

log = logging.getLogger(__name__)


def find_snapshot(
    ctx: GcsContext, source_bucket: str, when: datetime | None
) -> tuple[Manifest, Artifact]:
    """The newest good snapshot holding ``source_bucket``, at or before ``when`` if given."""
    holding = []
    for entry in Catalog(ctx.backup_bucket(), TARGET).backups():
        if entry.manifest is None:
            continue
        path = snapshot_path(entry.location, source_bucket)
        artifact = next((a for a in entry.manifest.artifacts if a.path == path), None)
        if artifact is not None:
            holding.append((entry.manifest, artifact))
    where = f"gs://{ctx.settings.backup_bucket}/{TARGET}/"
    if not holding:
        known = ", ".join(ctx.settings.source_buckets)
        raise BackupNotFound(
            f"no snapshot of bucket {source_bucket!r} in {where} "
            f"(configured source buckets: {known})"
        )
    for manifest, artifact in holding:
        if when is None or manifest.started <= when:
            return manifest, artifact
    oldest = holding[-1][0].started.isoformat()
    raise BackupNotFound(
        f"no snapshot of bucket {source_bucket!r} at or before {when.isoformat() if when else ''} "
        f"in {where}; the oldest is from {oldest}"
    )


def restore_bucket(
    settings: GcsSettings,
    *,
    source_bucket: str,
    version_date: str | date | None = None,
    target_bucket: str | None = None,
    test_mode: bool = False,
    dry_run: bool = False,
    delete_extra: bool = False,
    confirm: str | None = None,
    progress: Progress | None = None,
    new_client: Callable[[], Client] | None = None,
) -> RestoreOutcome:
    """Restore ``source_bucket`` as of ``version_date`` (latest if ``None``).

    Into ``source_bucket`` itself (needs ``confirm=source_bucket``), into
    ``target_bucket`` (created if missing; a configured source bucket needs
    ``confirm`` too), or with ``test_mode`` into a temporary bucket that is
    verified and deleted. ``dry_run`` reads only and returns the plan.
    Raises :class:`RequestError` (bad names, malformed date, contradictory
    options), :class:`BackupNotFound` (no snapshot of that bucket at or
    before the date), :class:`RefusedError` (unconfirmed production
    overwrite), :class:`IntegrityError` (a damaged snapshot file). Object
    failures do not raise: they make ``verified`` false and are named in
    ``notes``.
    """
    progress = progress or LogProgress()
    check_bucket_name(source_bucket, "source_bucket")
    if target_bucket is not None:
        check_bucket_name(target_bucket, "target_bucket")
    if test_mode and (target_bucket or delete_extra):
        raise RequestError(
            "test mode restores into a new temporary bucket: "
            "target_bucket and delete_extra do not apply"
        )
    when = parse_version_date(version_date)
    progress.phase("Validating", source_bucket=source_bucket, version_date=str(version_date or ""))
    with GcsContext(settings, new_client=new_client) as ctx:
        manifest, artifact = find_snapshot(ctx, source_bucket, when)
        entries = list(read_snapshot(ctx.backup_bucket(), artifact))  # verified before any write
        run = manifest.location.run_id
        log.info(
            "restoring gs://%s from snapshot %s (%d objects)", source_bucket, run, len(entries)
        )
        if test_mode:
            return _test_restore(ctx, source_bucket, manifest, entries, dry_run, progress)
        destination = target_bucket or source_bucket
        existing = restorer.current_objects(ctx, destination)
        production = destination in (source_bucket, *settings.source_buckets) or bool(existing)
        notes: list[str] = []
        if existing is not None:
            entries = _fit_acls(ctx, destination, entries, notes)
        changes = restorer.diff(entries, existing or {})
        outcome = restorer.Outcome(
            manifest, source_bucket, destination, len(entries), changes, delete_extra, notes
        )
        if dry_run:
            return outcome.plan(existing is None, production and confirm != destination)
        if production and confirm != destination:
            raise RefusedError(
                f"restoring snapshot {run} into gs://{destination} overwrites "
                f"{len(changes.overwrite)} live object(s) of a production bucket; repeat with "
                f"confirm={destination!r} (or restore into target_bucket, or use test mode)",
                confirm=destination,
            )
        if existing is None:
            _create_bucket(ctx, destination, labels={})
            entries = _fit_acls(ctx, destination, entries, notes)
            outcome.changes = changes = restorer.diff(entries, {})
        progress.phase(
            "InProgress", objects=len(entries), to_copy=len(changes.write) + len(changes.overwrite)
        )
        failures = restorer.apply(ctx, destination, changes, delete_extra, progress)
        progress.phase("Verifying", objects=len(entries))
        extra, problems = restorer.verify(ctx, destination, entries)
        return outcome.done("restore", failures, problems, extra, created=existing is None)


def _test_restore(
    ctx: GcsContext,
    source_bucket: str,
    manifest: Manifest,
    entries: list[ObjectEntry],
    dry_run: bool,
    progress: Progress,
) -> RestoreOutcome:
    """Restore into a fresh bucket, verify every object, delete the bucket whatever happened."""
    destination = temporary_bucket_name(source_bucket)
    changes = restorer.diff(entries, {})
    notes: list[str] = []
    outcome = restorer.Outcome(
        manifest, source_bucket, destination, len(entries), changes, False, notes
    )
    if dry_run:
        return outcome.plan(True, False)
    _create_bucket(ctx, destination, labels={"purpose": "dr-test-restore"})
    try:
        entries = _fit_acls(ctx, destination, entries, notes)
        outcome.changes = changes = restorer.diff(entries, {})
        progress.phase("InProgress", objects=len(entries), test_bucket=destination)
        failures = restorer.apply(ctx, destination, changes, False, progress)
        progress.phase("Verifying", objects=len(entries))
        extra, problems = restorer.verify(ctx, destination, entries)
    finally:
        _delete_bucket(ctx, destination)
    return outcome.done("test", failures, problems, extra, created=True)


def temporary_bucket_name(source_bucket: str) -> str:
    """``<source>-drtest-<random>``, a valid bucket name of at most 63 characters, no dots."""
    stem = re.sub(r"[^a-z0-9-]", "-", source_bucket)[:40].strip("-") or "bucket"
    return f"{stem}-drtest-{secrets.token_hex(4)}"


def _create_bucket(ctx: GcsContext, name: str, labels: dict[str, str]) -> None:
    """Create ``name`` next to the backup bucket (same location: rewrites stay in-region)."""
    client = ctx.client()
    backup = ctx.backup_bucket()
    with storage.translate_errors(f"creating gs://{name}"):
        backup.reload(retry=storage.retry_policy())
        bucket = client.bucket(name)
        bucket.labels = labels
        client.create_bucket(bucket, project=ctx.settings.project_id, location=backup.location)
    log.info("created bucket gs://%s", name)


def _fit_acls(
    ctx: GcsContext, name: str, entries: list[ObjectEntry], notes: list[str]
) -> list[ObjectEntry]:
    """``entries`` without their ACLs where gs://name takes none (uniform access), with a note."""
    if all(entry.acl is None for entry in entries):
        return entries
    bucket = ctx.bucket(name)
    with storage.translate_errors(f"reading gs://{name}"):
        bucket.reload(retry=storage.retry_policy())
    if not bucket.iam_configuration.uniform_bucket_level_access_enabled:
        return entries
    notes.append(
        f"object ACLs recorded in the snapshot were not applied: gs://{name} uses uniform "
        "bucket-level access (its IAM policy governs access)"
    )
    return [replace(entry, acl=None) for entry in entries]


def _delete_bucket(ctx: GcsContext, name: str) -> None:
    """Delete every object (releasing the holds a restore may have set), then the bucket."""
    bucket = ctx.bucket(name)
    with storage.translate_errors(f"deleting the test bucket gs://{name}"):
        blobs = list(ctx.client().list_blobs(bucket, retry=storage.retry_policy()))
        for _ in ctx.parallel(_release_and_delete, blobs):
            pass
        bucket.delete(retry=storage.retry_policy())
    log.info("deleted the test bucket gs://%s", name)


def _release_and_delete(blob: Blob) -> None:
    if blob.temporary_hold or blob.event_based_hold:
        blob.temporary_hold = blob.event_based_hold = False
        blob.patch(if_generation_match=blob.generation, retry=storage.retry_policy())
    storage.delete(blob.bucket, blob.name)
