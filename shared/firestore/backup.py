"""Backup start: plan or start a managed export, and end a run that failed. Never waits.

A Firestore export can outlast any function timeout, so the function that
starts it only writes the pending export record
(:mod:`shared.firestore.backup_record`) and asks the Admin API to start;
the backup completion step (:mod:`shared.firestore.backup_completion`) later
polls the operation and ends the run. The export goes into the run directory
of the shared layout, ``gs://<bucket>/firestore/<tier>/<date>/<run-id>/export/``,
so the catalog, retention and restore treat it like every other backup.

When the database has point-in-time recovery on, the export is of a
consistent snapshot at the last whole minute (``snapshot_time``); otherwise
Firestore exports documents as it reads them, and the manifest says that the
export may include changes made while it ran.

A run that cannot start (no permission, a bucket Firestore refuses, a
database that does not exist) ends as a *failed* run with the reason, through
:func:`shared.backup_end.end_backup` like every run, then the error is
raised: nothing is silently lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import logs, storage
from shared.backup_end import RunEnd, end_backup
from shared.config import FirestoreSettings
from shared.errors import ConfigError, DRError
from shared.firestore import admin, backup_record
from shared.firestore.backup_record import EXPORT_FOLDER, PendingExport
from shared.manifest import Manifest, RunLocation

if TYPE_CHECKING:
    from google.cloud.firestore_admin_v1 import FirestoreAdminClient
    from google.cloud.storage import Bucket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartedExport:
    """A run whose export was started (``operation``), or was already started (``None``)."""

    location: RunLocation
    record: PendingExport
    operation: str | None


def snapshot_time(now: datetime) -> datetime:
    """The last whole minute strictly before ``now``: what ``snapshot_time`` accepts."""
    return (now - timedelta(microseconds=1)).replace(second=0, microsecond=0)


def source_of(record: PendingExport) -> dict[str, Any]:
    """The manifest's ``source``: what was exported, and how consistent the export is."""
    return {
        "database": record.database,
        "collection_ids": list(record.collection_ids),
        "output_uri_prefix": record.output_uri_prefix,
        "point_in_time_recovery": record.point_in_time_recovery,
        "snapshot_time": record.snapshot_time.isoformat() if record.snapshot_time else None,
        "consistency": (
            f"consistent snapshot at {record.snapshot_time.isoformat()}"
            if record.snapshot_time
            else "no snapshot_time (point-in-time recovery is off): the export may include "
            "changes made while it ran"
        ),
    }


def plan(
    settings: FirestoreSettings,
    location: RunLocation,
    *,
    bucket: Bucket,
    client: FirestoreAdminClient,
    now: datetime,
) -> list[str]:
    """What a backup into ``location`` would export, and how consistently; writes nothing."""
    record = _record(settings, location, bucket, client, now)
    collections = ", ".join(record.collection_ids) or "all collections"
    line = (
        f"export {record.database} ({collections}) to {record.output_uri_prefix}: "
        f"{source_of(record)['consistency']}"
    )
    log.info("plan: would %s", line, extra={"fields": {"plan": record.to_json()}})
    return [line]


def start(
    settings: FirestoreSettings,
    location: RunLocation,
    *,
    end: RunEnd,
    client: FirestoreAdminClient,
) -> StartedExport:
    """Record and start one managed export of the configured database; returns at once.

    A redelivered trigger (same ``location``) finds its run pending or ended
    and starts no second export.
    """
    bucket, now = end.bucket, end.clock()
    record = _stub(settings, location, bucket, now)
    started = backup_record.read(bucket, location) or storage.read_json(
        bucket, location.manifest_path
    )
    if started is not None:
        log.info(
            "run %s was already started (a redelivered trigger): nothing to do", location.run_id
        )
        return StartedExport(location, record, None)
    with logs.run_context(run_id=location.run_id):
        try:
            record = _record(settings, location, bucket, client, now)
            generation = backup_record.create(bucket, location, record)
            operation = admin.start_export(
                client,
                record.database,
                record.output_uri_prefix,
                record.collection_ids,
                record.snapshot_time,
            )
        except DRError as exc:
            _end_unstarted(end, location, record, f"{type(exc).__name__}: {exc}")
            raise
        try:
            record, _ = backup_record.update(
                bucket, location, record, generation, operation=operation
            )
        except DRError as exc:  # the export runs: the completion step finds it by its prefix
            log.warning("export %s started, but its name was not recorded (%s)", operation, exc)
        log.info(
            "export of %s started: operation %s",
            record.database,
            operation,
            extra={"fields": {"operation": operation, "export": record.output_uri_prefix}},
        )
        return StartedExport(location, record, operation)


def _stub(
    settings: FirestoreSettings, location: RunLocation, bucket: Bucket, now: datetime
) -> PendingExport:
    """The record before the database was read (what a run that failed at once reports)."""
    return PendingExport(
        database=admin.database_name(settings.project_id, settings.database),
        output_uri_prefix=f"gs://{bucket.name}/{location.path(EXPORT_FOLDER)}",
        collection_ids=settings.collection_ids,
        snapshot_time=None,
        point_in_time_recovery=False,
        started=now,
    )


def _record(
    settings: FirestoreSettings,
    location: RunLocation,
    bucket: Bucket,
    client: FirestoreAdminClient,
    now: datetime,
) -> PendingExport:
    """The export's record: the database must exist; its recovery setting picks the snapshot."""
    stub = _stub(settings, location, bucket, now)
    info = admin.get_database(client, stub.database)
    if info is None:
        raise ConfigError(
            f"{stub.database} does not exist (FIRESTORE_PROJECT_ID={settings.project_id}, "
            f"FIRESTORE_DATABASE={settings.database})"
        )
    pitr = info.point_in_time_recovery
    return PendingExport(
        database=stub.database,
        output_uri_prefix=stub.output_uri_prefix,
        collection_ids=stub.collection_ids,
        snapshot_time=snapshot_time(now) if pitr else None,
        point_in_time_recovery=pitr,
        started=now,
    )


def _end_unstarted(end: RunEnd, location: RunLocation, record: PendingExport, error: str) -> None:
    """End a run whose export could not start; the starting error is what the caller raises."""
    try:
        end_failed(end, location, record, error, end.clock())
    except DRError as exc:
        log.error(
            "run %s could not be ended as failed (%s); the completion step retries",
            location.run_id,
            exc,
        )


def end_failed(
    end: RunEnd,
    location: RunLocation,
    record: PendingExport,
    error: str,
    finished: datetime,
    details: dict[str, Any] | None = None,
) -> Manifest:
    """End ``location`` as a failed run (one report), then drop its pending record."""
    manifest = Manifest(
        location=location,
        status="failed",
        started=record.started,
        finished=finished,
        source=source_of(record),
        error=error,
        details={"operation": record.operation, **(details or {})},
    )
    return end_run(end, manifest, record, {})


def end_run(
    end: RunEnd, manifest: Manifest, record: PendingExport, details: dict[str, str]
) -> Manifest:
    """End the run through :func:`end_backup` with the export's report details; the stored manifest.

    The pending record goes last: a step that dies before removing it leaves
    a run that has its manifest, which the completion step no longer lists.
    """
    report = {
        "database": record.database,
        "export": record.output_uri_prefix,
        "operation": record.operation or "(not started)",
        **details,
    }
    stored = end_backup(end, manifest, report)
    backup_record.remove(end.bucket, manifest.location)
    return stored
