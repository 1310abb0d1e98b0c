"""The completion step: finish every pending export whose operation has ended.

Run every few minutes by Cloud Scheduler (``dr-firestore-complete``) and
first thing by each backup trigger. For each run directory that has a
``pending.json`` and no manifest it polls the export operation and

* **succeeded**: reads the export's files (documents per collection group,
  checksums; see :mod:`shared.firestore.exportfile`), commits a succeeded
  manifest with those counts and the operation's own document and byte
  progress, removes the pending record, notifies;
* **failed or cancelled**: commits a failed manifest (a partial export cannot
  be imported), removes the pending record, notifies;
* **still running past the timeout**: logs an ERROR and notifies once
  (recorded in the pending record), and keeps polling: an export that ends
  later is still finalized.

The manifest is created with ``if_generation_match=0``, so when two
completion steps race exactly one commits and notifies. An export larger than
``count_limit`` is not read (a function has minutes, not hours); its manifest
then lists the objects with the CRC32C Cloud Storage holds and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import catalog, logs, reporting, storage
from shared.config import FirestoreSettings
from shared.errors import ConflictError, DRError, IntegrityError
from shared.firestore import admin, exportfile, pending
from shared.firestore.export import TARGET, fail_run, source_of
from shared.firestore.pending import EXPORT_FOLDER, PendingExport
from shared.manifest import MANIFEST_NAME, Artifact, Manifest, RunLocation

if TYPE_CHECKING:
    from google.cloud.firestore_admin_v1 import FirestoreAdminClient
    from google.cloud.storage import Bucket

log = logging.getLogger(__name__)

COUNT_LIMIT_BYTES = 2 * 1024**3
START_GRACE = timedelta(minutes=10)  # time a starting function has to record its operation


@dataclass(frozen=True)
class Completion:
    """What the step did with one pending run: succeeded, failed, running, overdue, skipped."""

    run_id: str
    state: str
    detail: str


def pending_runs(bucket: Bucket) -> list[RunLocation]:
    """Run directories holding a pending record and no manifest, oldest first."""
    members: dict[RunLocation, set[str]] = {}
    with storage.translate_errors(f"listing gs://{bucket.name}/{TARGET}/"):
        for blob in bucket.client.list_blobs(
            bucket,
            prefix=f"{TARGET}/",
            fields="items(name),nextPageToken",
            retry=storage.retry_policy(),
        ):
            location = RunLocation.parse(blob.name)
            if location is not None and location.prefix == "":
                members.setdefault(location, set()).add(blob.name[len(location.directory) :])
    found = [
        loc
        for loc, names in members.items()
        if pending.PENDING_NAME in names and MANIFEST_NAME not in names
    ]
    return sorted(found, key=lambda loc: loc.run_id)


def complete_exports(
    settings: FirestoreSettings,
    *,
    bucket: Bucket,
    client: FirestoreAdminClient,
    now: datetime,
    timeout: timedelta,
    count_limit: int = COUNT_LIMIT_BYTES,
) -> list[Completion]:
    """Poll every pending export once; one run's error never stops the others."""
    results = []
    for location in pending_runs(bucket):
        with logs.run_context(run_id=location.run_id):
            try:
                results.append(
                    _complete(settings, bucket, client, location, now, timeout, count_limit)
                )
            except ConflictError:
                results.append(Completion(location.run_id, "skipped", "changed by another step"))
            except DRError as exc:
                log.error(
                    "could not complete run %s: %s: %s", location.run_id, type(exc).__name__, exc
                )
                results.append(Completion(location.run_id, "skipped", str(exc)))
    return results


def _complete(
    settings: FirestoreSettings,
    bucket: Bucket,
    client: FirestoreAdminClient,
    location: RunLocation,
    now: datetime,
    timeout: timedelta,
    count_limit: int,
) -> Completion:
    found = pending.read(bucket, location)
    if found is None:
        return Completion(location.run_id, "skipped", "finalized by another step")
    record, generation = found
    if record.operation is None:
        operation = admin.find_operation(
            client, "export", record.database, record.output_uri_prefix
        )
        if operation is None:
            if now - record.started < START_GRACE:
                return Completion(location.run_id, "running", "export is being started")
            error = (
                "the export was never started: the function that began this run stopped "
                "before Firestore accepted the export"
            )
            fail_run(bucket, location, record, error, now, settings)
            return Completion(location.run_id, "failed", error)
        record, generation = pending.update(
            bucket, location, record, generation, operation=operation
        )
        log.info("recovered operation %s of run %s", operation, location.run_id)
    assert record.operation is not None
    status = admin.operation_status(client, record.operation)
    if not status.done:
        return _still_running(settings, bucket, location, record, generation, status, now, timeout)
    if not status.succeeded:
        what = "cancelled" if status.cancelled else "failed"
        error = f"the export {what} ({status.error}); a partial export cannot be imported"
        fail_run(
            bucket, location, record, error, status.end_time or now, settings, _progress(status)
        )
        return Completion(location.run_id, "failed", error)
    return _succeed(settings, bucket, location, record, status, now, count_limit)


def _still_running(
    settings: FirestoreSettings,
    bucket: Bucket,
    location: RunLocation,
    record: PendingExport,
    generation: int,
    status: admin.OperationStatus,
    now: datetime,
    timeout: timedelta,
) -> Completion:
    elapsed = now - record.started
    if elapsed <= timeout:
        return Completion(location.run_id, "running", status.describe())
    if record.timeout_reported is not None:
        return Completion(location.run_id, "overdue", "already reported")
    try:
        pending.update(bucket, location, record, generation, timeout_reported=now)
    except ConflictError:
        return Completion(location.run_id, "skipped", "changed by another step")
    error = (
        f"the export has been running for {elapsed} (timeout {timeout}, "
        f"FIRESTORE_EXPORT_TIMEOUT_MINUTES): {status.describe()}, "
        f"{status.documents or 0} documents so far. It is still checked and will be "
        "finalized if it ends; cancel it if it is stuck."
    )
    reporting.send(
        settings.notify,
        reporting.failure_report(
            TARGET, f"{location.tier} backup", location.run_id, record.started, now, error
        ),
    )
    return Completion(location.run_id, "overdue", error)


def _progress(status: admin.OperationStatus) -> dict[str, Any]:
    return {
        "operation_state": status.state,
        "progress_documents": status.documents,
        "progress_bytes": status.bytes,
    }


def _succeed(
    settings: FirestoreSettings,
    bucket: Bucket,
    location: RunLocation,
    record: PendingExport,
    status: admin.OperationStatus,
    now: datetime,
    count_limit: int,
) -> Completion:
    prefix = location.path(EXPORT_FOLDER)
    listed = exportfile.list_files(bucket, prefix)
    total = sum(item.size for item in listed.values())
    details: dict[str, Any] = {"operation": record.operation, **_progress(status)}
    counts: dict[str, int] = {}
    try:
        if total > count_limit:
            details["counted"] = False
            details["count_note"] = (
                f"export is {total} bytes, over the {count_limit}-byte limit "
                "for reading it here; counts are the operation's own"
            )
            artifacts = [
                Artifact(
                    f"{EXPORT_FOLDER}/{item.name[len(prefix) + 1 :]}",
                    item.size,
                    "",
                    item.crc32c or "",
                )
                for item in listed.values()
            ]
        else:
            contents = exportfile.read_export(bucket, prefix)
            counts = dict(contents.collections)
            details.update(
                counted=True,
                counted_documents=contents.documents,
                subcollection_documents=contents.subcollection_documents,
                declared_documents=contents.declared_documents,
            )
            if status.documents is not None and status.documents != contents.documents:
                details["count_note"] = (
                    f"the operation reported {status.documents} documents "
                    f"but the files hold {contents.documents}"
                )
                log.warning("run %s: %s", location.run_id, details["count_note"])
            artifacts = [
                Artifact(f"{EXPORT_FOLDER}/{f.path}", f.size, f.sha256, f.crc32c)
                for f in contents.files
            ]
    except IntegrityError as exc:
        error = f"the export finished but its files are not readable: {exc}"
        fail_run(bucket, location, record, error, now, settings, details)
        return Completion(location.run_id, "failed", error)
    manifest = Manifest(
        location=location,
        status="succeeded",
        started=record.started,
        finished=status.end_time or now,
        source=source_of(record),
        artifacts=tuple(artifacts),
        counts=counts,
        details=details,
    )
    try:
        catalog.commit(bucket, manifest)
    except ConflictError:
        return Completion(location.run_id, "skipped", "finalized by another step")
    pending.remove(bucket, location)
    documents = sum(counts.values()) if counts else status.documents
    report = reporting.backup_report(
        manifest,
        {
            "database": record.database,
            "export": record.output_uri_prefix,
            "documents": str(documents),
            "consistency": source_of(record)["consistency"],
        },
    )
    reporting.send(settings.notify, report)
    return Completion(location.run_id, "succeeded", f"{documents} documents")
