"""Restore one bucket from a snapshot (the request level): the guide's three forms, test mode, plan.

``gcs_restore.sh --source-bucket B`` (the latest snapshot of B back into B),
``--version-date D`` (the newest snapshot at or before D) and
``--target-bucket T`` (into T instead) map one for one onto a
:class:`~shared.gcs.request.GcsRestoreRequest`'s ``source_bucket``,
``version_date`` and ``target_bucket``; ``--test-mode`` restores into a
temporary bucket, verifies every object against the snapshot and deletes the
bucket again. This module resolves the snapshot, applies the production rule
and manages buckets; :mod:`shared.gcs.object_restore` compares, copies and
verifies the objects.

Overwriting a production bucket (:func:`production_name`) needs ``confirm``
equal to that bucket's name, checked here and not only by the dispatcher, so
library use is as safe as a ``dr-restore`` message. Nothing is deleted unless
``delete_extra`` is asked.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from shared import storage
from shared.catalog import Catalog
from shared.config import GcsSettings
from shared.errors import BackupNotFound, RefusedError
from shared.gcs import object_restore
from shared.gcs.context import GcsContext
from shared.gcs.reader import read_snapshot
from shared.gcs.request import GcsRestoreRequest
from shared.gcs.run import TARGET, snapshot_path
from shared.gcs.snapshot import ObjectEntry
from shared.manifest import Artifact, Manifest
from shared.target import LogProgress, Progress, RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.storage import Blob, Client

log = logging.getLogger(__name__)


def resolve_snapshot(
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


def production_name(
    request: GcsRestoreRequest, source_buckets: Sequence[str], holds_objects: Callable[[str], bool]
) -> str | None:
    """The bucket ``request`` would overwrite that ``confirm`` must name, or ``None``.

    The one production rule, asked by the dispatcher
    (:meth:`shared.gcs.target.GcsRestoreTarget.production_name`) and by
    :func:`restore_bucket` itself: the source bucket, any configured source
    bucket, and any bucket that already holds objects (``holds_objects``)
    are production. A test restore writes only a bucket of its own.
    """
    if request.test_mode:
        return None
    destination = request.destination
    if destination in (request.source_bucket, *source_buckets) or holds_objects(destination):
        return destination
    return None


def restore_bucket(
    settings: GcsSettings,
    request: GcsRestoreRequest,
    *,
    progress: Progress | None = None,
    new_client: Callable[[], Client] | None = None,
) -> RestoreOutcome:
    """Restore ``request.source_bucket`` as of ``request.version_date`` (latest if ``None``).

    Into the source bucket itself, into ``target_bucket`` (created if
    missing), or with ``test_mode`` into a temporary bucket that is verified
    and deleted; a production bucket (:func:`production_name`) needs
    ``confirm`` naming it. ``dry_run`` reads only and returns the plan.
    The request is valid by construction (:class:`GcsRestoreRequest` refuses
    bad names and contradictory options). Raises :class:`BackupNotFound` (no
    snapshot of that bucket at or before the date), :class:`RefusedError`
    (unconfirmed production overwrite), :class:`IntegrityError` (a damaged
    snapshot file). Object failures do not raise: they make ``verified``
    false and are named in ``notes``.
    """
    progress = progress or LogProgress()
    source_bucket = request.source_bucket
    when = request.version_date
    progress.phase(
        "Validating",
        source_bucket=source_bucket,
        version_date=when.isoformat() if when else "",
    )
    with GcsContext(settings, new_client=new_client) as ctx:
        manifest, artifact = resolve_snapshot(ctx, source_bucket, when)
        entries = list(read_snapshot(ctx.backup_bucket(), artifact))  # verified before any write
        run = manifest.location.run_id
        log.info(
            "restoring gs://%s from snapshot %s (%d objects)", source_bucket, run, len(entries)
        )
        if request.test_mode:
            return _test_restore(ctx, source_bucket, manifest, entries, request.dry_run, progress)
        destination = request.destination
        existing = object_restore.current_objects(ctx, destination)
        production = production_name(request, settings.source_buckets, lambda _: bool(existing))
        unconfirmed = production is not None and request.confirm != production
        notes: list[str] = []
        if existing is not None:
            entries = _fit_acls(ctx, destination, entries, notes)
        changes = object_restore.diff(entries, existing or {})
        outcome = object_restore.Outcome(
            manifest, source_bucket, destination, len(entries), changes, request.delete_extra, notes
        )
        if request.dry_run:
            return outcome.plan(existing is None, unconfirmed)
        if unconfirmed:
            raise RefusedError(
                f"restoring snapshot {run} into gs://{destination} overwrites "
                f"{len(changes.overwrite)} live object(s) of a production bucket; repeat with "
                f"confirm={destination!r} (or restore into target_bucket, or use test mode)",
                confirm=destination,
            )
        if existing is None:
            _create_bucket(ctx, destination, labels={})
            entries = _fit_acls(ctx, destination, entries, notes)
            outcome.changes = changes = object_restore.diff(entries, {})
        progress.phase(
            "InProgress", objects=len(entries), to_copy=len(changes.write) + len(changes.overwrite)
        )
        failures = object_restore.apply(ctx, destination, changes, request.delete_extra, progress)
        progress.phase("Verifying", objects=len(entries))
        extra, problems = object_restore.verify(ctx, destination, entries)
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
    changes = object_restore.diff(entries, {})
    notes: list[str] = []
    outcome = object_restore.Outcome(
        manifest, source_bucket, destination, len(entries), changes, False, notes
    )
    if dry_run:
        return outcome.plan(True, False)
    _create_bucket(ctx, destination, labels={"purpose": "dr-test-restore"})
    try:
        entries = _fit_acls(ctx, destination, entries, notes)
        outcome.changes = changes = object_restore.diff(entries, {})
        progress.phase("InProgress", objects=len(entries), test_bucket=destination)
        failures = object_restore.apply(ctx, destination, changes, False, progress)
        progress.phase("Verifying", objects=len(entries))
        extra, problems = object_restore.verify(ctx, destination, entries)
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
