"""Backup completion: end every pending export whose operation has ended.

Run every few minutes by Cloud Scheduler (``dr-firestore-complete``) and
first thing by each backup trigger. For each run directory that has a
pending export record and no manifest it polls the export operation and

* **succeeded**: reads the export's files (documents per collection group,
  checksums; see :mod:`shared.firestore.exportfile`) and ends the run with a
  succeeded manifest holding those counts and the operation's own document
  and byte progress;
* **failed or cancelled**: ends the run with a failed manifest (a partial
  export cannot be imported);
* **still running past the timeout**: logs an ERROR and notifies once
  (recorded in the pending record), and keeps polling: an export that ends
  later is still ended.

Every run ends through :func:`shared.backup_end.end_backup` (the manifest
committed with a precondition, retention, one report), then its pending
record is removed. Two completion steps can race over one run and would
build the same manifest, so the step that ends a run first *claims* its
pending record (``ending``, guarded by generation): the other finds the
claim, or loses the update, and leaves the run alone. A claim older than
:data:`START_GRACE` is a claimant that died, and is taken over. An export
larger than ``count_limit`` is not read (a function has minutes, not hours);
its manifest then lists the objects with the CRC32C Cloud Storage holds and
says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import logs, reporting, storage
from shared.backup_end import RunEnd
from shared.errors import ConflictError, DRError, IntegrityError
from shared.firestore import admin, backup_record, exportfile
from shared.firestore.backup import end_failed, end_run, source_of
from shared.firestore.backup_record import EXPORT_FOLDER, PendingExport
from shared.firestore.request import TARGET
from shared.manifest import MANIFEST_NAME, Artifact, Manifest, RunLocation

if TYPE_CHECKING:
    from google.cloud.firestore_admin_v1 import FirestoreAdminClient
    from google.cloud.storage import Bucket

log = logging.getLogger(__name__)

COUNT_LIMIT_BYTES = 2 * 1024**3
START_GRACE = timedelta(minutes=10)  # time a step has to record its operation, or to end a run


@dataclass(frozen=True)
class Completion:
    """What the step did with one pending run: succeeded, failed, running, overdue, skipped."""

    run_id: str
    state: str
    detail: str


def pending_runs(bucket: Bucket) -> list[RunLocation]:
    """Run directories holding a pending export record and no manifest, oldest first."""
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
        if backup_record.PENDING_NAME in names and MANIFEST_NAME not in names
    ]
    return sorted(found, key=lambda loc: loc.run_id)


def complete_backups(
    end: RunEnd,
    client: FirestoreAdminClient,
    *,
    timeout: timedelta,
    count_limit: int = COUNT_LIMIT_BYTES,
) -> list[Completion]:
    """Poll every pending export once; one run's error never stops the others."""
    results = []
    for location in pending_runs(end.bucket):
        with logs.run_context(run_id=location.run_id):
            try:
                step = _Step(end, client, location, end.clock())
                results.append(step.complete(timeout, count_limit))
            except ConflictError:
                results.append(Completion(location.run_id, "skipped", "changed by another step"))
            except DRError as exc:
                log.error(
                    "could not complete run %s: %s: %s", location.run_id, type(exc).__name__, exc
                )
                results.append(Completion(location.run_id, "skipped", str(exc)))
    return results


class _Step:
    """One run's completion at ``now``: the pending record and the generation it was read at."""

    def __init__(
        self, end: RunEnd, client: FirestoreAdminClient, location: RunLocation, now: datetime
    ) -> None:
        self.end, self.client, self.location, self.now = end, client, location, now
        self.generation = 0

    @property
    def run_id(self) -> str:
        return self.location.run_id

    def _save(self, record: PendingExport, **changes: Any) -> PendingExport:
        record, self.generation = backup_record.update(
            self.end.bucket, self.location, record, self.generation, **changes
        )
        return record

    def complete(self, timeout: timedelta, count_limit: int) -> Completion:
        found = backup_record.read(self.end.bucket, self.location)
        if found is None:
            return Completion(self.run_id, "skipped", "ended by another step")
        record, self.generation = found
        if record.ending is not None and self.now - record.ending < START_GRACE:
            return Completion(self.run_id, "skipped", "being ended by another step")
        if record.operation is None:
            recovered = self._recover(record)
            if isinstance(recovered, Completion):
                return recovered
            record = recovered
        assert record.operation is not None
        status = admin.operation_status(self.client, record.operation)
        if not status.done:
            return self._still_running(record, status, timeout)
        if not status.succeeded:
            what = "cancelled" if status.cancelled else "failed"
            error = f"the export {what} ({status.error}); a partial export cannot be imported"
            return self._end_failed(record, error, status.end_time or self.now, _progress(status))
        return self._succeeded(record, status, count_limit)

    def _recover(self, record: PendingExport) -> PendingExport | Completion:
        """Find the operation of an export whose starter died before recording it."""
        operation = admin.find_operation(
            self.client, "export", record.database, record.output_uri_prefix
        )
        if operation is None:
            if self.now - record.started < START_GRACE:
                return Completion(self.run_id, "running", "export is being started")
            error = (
                "the export was never started: the function that began this run stopped "
                "before Firestore accepted the export"
            )
            return self._end_failed(record, error, self.now)
        log.info("recovered operation %s of run %s", operation, self.run_id)
        return self._save(record, operation=operation)

    def _claim(self, record: PendingExport) -> PendingExport:
        """Claim the run for this step (:class:`ConflictError` if another step changed it)."""
        return self._save(record, ending=self.now)

    def _end_failed(
        self,
        record: PendingExport,
        error: str,
        finished: datetime,
        details: dict[str, Any] | None = None,
    ) -> Completion:
        record = self._claim(record)
        end_failed(self.end, self.location, record, error, finished, details)
        return Completion(self.run_id, "failed", error)

    def _still_running(
        self, record: PendingExport, status: admin.OperationStatus, timeout: timedelta
    ) -> Completion:
        elapsed = self.now - record.started
        if elapsed <= timeout:
            return Completion(self.run_id, "running", status.describe())
        if record.timeout_reported is not None:
            return Completion(self.run_id, "overdue", "already reported")
        self._save(record, timeout_reported=self.now)
        error = (
            f"the export has been running for {elapsed} (timeout {timeout}, "
            f"FIRESTORE_EXPORT_TIMEOUT_MINUTES): {status.describe()}, "
            f"{status.documents or 0} documents so far. It is still checked, and the run "
            "ends when the export does; cancel it if it is stuck."
        )
        what = f"{self.location.tier} backup"
        report = reporting.failure_report(
            TARGET, what, self.run_id, record.started, self.now, error
        )
        reporting.deliver(report, self.end.notifier)
        return Completion(self.run_id, "overdue", error)

    def _succeeded(
        self, record: PendingExport, status: admin.OperationStatus, count_limit: int
    ) -> Completion:
        details: dict[str, Any] = {"operation": record.operation, **_progress(status)}
        try:
            artifacts, counts = _read(self.end.bucket, self.location, details, count_limit)
        except IntegrityError as exc:
            error = f"the export finished but its files are not readable: {exc}"
            return self._end_failed(record, error, self.now, details)
        counted = details.get("counted_documents")
        if None not in (counted, status.documents) and counted != status.documents:
            details["count_note"] = (
                f"the operation reported {status.documents} documents but the files hold {counted}"
            )
            log.warning("run %s: %s", self.run_id, details["count_note"])
        manifest = Manifest(
            location=self.location,
            status="succeeded",
            started=record.started,
            finished=status.end_time or self.now,
            source=source_of(record),
            artifacts=tuple(artifacts),
            counts=counts,
            details=details,
        )
        record = self._claim(record)
        documents = sum(counts.values()) if counts else status.documents
        report = {"documents": str(documents), "consistency": source_of(record)["consistency"]}
        end_run(self.end, manifest, record, report)
        return Completion(self.run_id, "succeeded", f"{documents} documents")


def _progress(status: admin.OperationStatus) -> dict[str, Any]:
    return {
        "operation_state": status.state,
        "progress_documents": status.documents,
        "progress_bytes": status.bytes,
    }


def _read(
    bucket: Bucket, location: RunLocation, details: dict[str, Any], count_limit: int
) -> tuple[list[Artifact], dict[str, int]]:
    """The export's artifacts and documents per group; ``details`` says what was counted."""
    prefix = location.path(EXPORT_FOLDER)
    listed = exportfile.list_files(bucket, prefix)
    total = sum(item.size for item in listed.values())
    if total > count_limit:
        details["counted"] = False
        details["count_note"] = (
            f"export is {total} bytes, over the {count_limit}-byte limit "
            "for reading it here; counts are the operation's own"
        )
        return [
            Artifact(
                f"{EXPORT_FOLDER}/{item.name[len(prefix) + 1 :]}", item.size, "", item.crc32c or ""
            )
            for item in listed.values()
        ], {}
    contents = exportfile.read_export(bucket, prefix)
    details.update(
        counted=True,
        counted_documents=contents.documents,
        subcollection_documents=contents.subcollection_documents,
        declared_documents=contents.declared_documents,
    )
    artifacts = [
        Artifact(f"{EXPORT_FOLDER}/{f.path}", f.size, f.sha256, f.crc32c) for f in contents.files
    ]
    return artifacts, dict(contents.collections)
