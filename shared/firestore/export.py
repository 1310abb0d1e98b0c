"""Starting a managed export: record it, start it, return. Never waits for it to finish.

A Firestore export can outlast any function timeout, so the function that
starts it only writes the pending record (:mod:`shared.firestore.pending`)
and asks the Admin API to start; the completion step
(:mod:`shared.firestore.complete`) later polls the operation, commits the
manifest and notifies. The export goes into the run directory of the shared
layout, ``gs://<bucket>/firestore/<tier>/<date>/<run-id>/export/``, so the
catalog, retention and restore treat it like every other backup.

When the database has point-in-time recovery on, the export is of a
consistent snapshot at the last whole minute (``snapshot_time``); otherwise
Firestore exports documents as it reads them, and the manifest says that the
export may include changes made while it ran.

A run that cannot start (no permission, a bucket Firestore refuses, a
database that does not exist) is committed as a *failed* run with the reason
and notified, then the error is raised: nothing is silently lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import catalog, logs, prune, reporting, storage
from shared.config import FirestoreSettings
from shared.errors import ConfigError, ConflictError, DRError
from shared.firestore import admin, pending
from shared.firestore.pending import EXPORT_FOLDER, PendingExport
from shared.manifest import Manifest, RunLocation, new_run_id

if TYPE_CHECKING:
    from google.cloud.firestore_admin_v1 import FirestoreAdminClient
    from google.cloud.storage import Bucket

log = logging.getLogger(__name__)
TARGET = "firestore"


@dataclass(frozen=True)
class StartedExport:
    """A run whose export was started (``operation``), or only planned (a dry run: ``None``)."""

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


def start_export(
    settings: FirestoreSettings,
    tier: str,
    *,
    bucket: Bucket,
    client: FirestoreAdminClient,
    now: datetime,
    dry_run: bool = False,
    run_id: str | None = None,
) -> StartedExport:
    """Record and start one managed export of the configured database; returns at once.

    ``run_id`` (from the trigger message) names the run: a redelivered trigger
    finds its run pending or committed and starts no second export.
    """
    location = RunLocation("", TARGET, tier, run_id or new_run_id(now))
    database = admin.database_name(settings.project_id, settings.database)
    record = PendingExport(
        database=database,
        output_uri_prefix=f"gs://{bucket.name}/{location.path(EXPORT_FOLDER)}",
        collection_ids=settings.collection_ids,
        snapshot_time=None,
        point_in_time_recovery=False,
        started=now,
    )
    started = pending.read(bucket, location) or storage.read_json(bucket, location.manifest_path)
    if started is not None and not dry_run:
        log.info(
            "run %s was already started (a redelivered trigger): nothing to do", location.run_id
        )
        return StartedExport(location, record, None)
    with logs.run_context(run_id=location.run_id):
        try:
            info = admin.get_database(client, database)
            if info is None:
                raise ConfigError(
                    f"{database} does not exist (FIRESTORE_PROJECT_ID={settings.project_id}, "
                    f"FIRESTORE_DATABASE={settings.database})"
                )
            pitr = info.point_in_time_recovery
            record = PendingExport(
                database=database,
                output_uri_prefix=record.output_uri_prefix,
                collection_ids=settings.collection_ids,
                snapshot_time=snapshot_time(now) if pitr else None,
                point_in_time_recovery=pitr,
                started=now,
            )
            if dry_run:
                log.info(
                    "dry run: would export %s to %s (%s)",
                    database,
                    record.output_uri_prefix,
                    source_of(record)["consistency"],
                    extra={"fields": {"plan": record.to_json()}},
                )
                return StartedExport(location, record, None)
            generation = pending.create(bucket, location, record)
            operation = admin.start_export(
                client,
                database,
                record.output_uri_prefix,
                record.collection_ids,
                record.snapshot_time,
            )
        except DRError as exc:
            if not dry_run:
                fail_run(bucket, location, record, f"{type(exc).__name__}: {exc}", now, settings)
            raise
        try:
            record, _ = pending.update(bucket, location, record, generation, operation=operation)
        except DRError as exc:  # the export runs: the completion step finds it by its prefix
            log.warning("export %s started, but its name was not recorded (%s)", operation, exc)
        log.info(
            "export of %s started: operation %s",
            database,
            operation,
            extra={"fields": {"operation": operation, "export": record.output_uri_prefix}},
        )
        return StartedExport(location, record, operation)


def fail_run(
    bucket: Bucket,
    location: RunLocation,
    record: PendingExport,
    error: str,
    now: datetime,
    settings: FirestoreSettings,
    details: dict[str, Any] | None = None,
) -> Manifest | None:
    """Commit ``location`` as a failed run and notify; ``None`` if another step already did."""
    manifest = Manifest(
        location=location,
        status="failed",
        started=record.started,
        finished=now,
        source=source_of(record),
        error=error,
        details={"operation": record.operation, **(details or {})},
    )
    try:
        catalog.commit(bucket, manifest)
    except ConflictError:
        log.info("run %s was already finalized by another step", location.run_id)
        return None
    except DRError as exc:
        log.error(
            "run %s could not be marked failed (%s); the completion step retries",
            location.run_id,
            exc,
        )
        return None
    pending.remove(bucket, location)
    reporting.send(settings.notify, reporting.backup_report(manifest, _report_details(record)))
    return manifest


def _report_details(record: PendingExport) -> dict[str, str]:
    return {
        "database": record.database,
        "export": record.output_uri_prefix,
        "operation": record.operation or "(not started)",
    }


def apply_retention(
    settings: FirestoreSettings, tier: str, *, bucket: Bucket, now: datetime, dry_run: bool
) -> list[prune.PruneDecision]:
    """This tier's policy (``FIRESTORE_RETENTION_DAYS``; 0 keeps everything) over its runs.

    Returns every decision with its reason (removals were carried out unless
    ``dry_run``). The shared guard rails of :mod:`shared.prune` apply.
    """
    policy = settings.retention.policy(tier)
    decisions = prune.plan(catalog.Catalog(bucket, TARGET).entries(tier), policy, now)
    prune.execute(bucket, decisions, dry_run)
    return decisions
