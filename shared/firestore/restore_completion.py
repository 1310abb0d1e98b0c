"""Restore completion: carry each import in flight one step further, then end it.

Run by the completion step (:mod:`shared.firestore.completion`), after the
backup completion. For each pending import record
(:mod:`shared.firestore.restore_record`) it polls the step's operation:

* ``create_database`` done (test mode): start the import into the scratch database;
* ``import`` done: with ``rewrite_references``, first the rewrite pass
  (:mod:`shared.firestore.references`), a bounded part per run until done;
  then count documents per collection group in the database imported into
  (phase Verifying). Test mode: the counts must equal the manifest's; then
  the scratch database is deleted (step ``cleanup``). Restore: every
  document of the export must have been imported and each group must hold
  at least the exported count (other documents stay). Both: each document
  (or a stated sample) must equal the export's, field by field
  (:func:`shared.firestore.verify.with_contents`);
* ``cleanup`` done: the scratch database is gone; the restore ends.

A restore ends through :mod:`shared.restore.lifecycle` (final phase, lock
released, one notification), exactly like a synchronous one. A step whose
operation name was never recorded (the function died) is recovered by
listing operations, or by re-issuing the step once its grace period has
passed: each step is idempotent (an import writes the same documents again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import reporting
from shared.config import FirestoreSettings
from shared.errors import ConflictError, DRError
from shared.firestore import admin, references, restore_record, verify
from shared.firestore.backup_completion import START_GRACE, Completion
from shared.firestore.request import TARGET
from shared.firestore.restore import IMPORT_NOTE
from shared.firestore.restore_record import PendingImport
from shared.restore import lifecycle
from shared.target import RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.firestore_admin_v1 import FirestoreAdminClient

    from shared.restore.status import StatusStore


log = logging.getLogger(__name__)


def complete_restores(
    settings: FirestoreSettings,
    *,
    store: StatusStore,
    client: FirestoreAdminClient,
    now: datetime,
    timeout: timedelta,
    data_client: verify.DataClient = verify.data_client,
) -> list[Completion]:
    """Advance every Firestore import in flight once; one failure never stops the others."""
    results = []
    for request_id in restore_record.in_flight(store.bucket):
        try:
            step = _Step(settings, store, client, now, data_client)
            results.append(step.advance(request_id, timeout))
        except ConflictError:
            results.append(Completion(request_id, "skipped", "changed by another step"))
        except DRError as exc:
            log.error("could not advance restore %s: %s: %s", request_id, type(exc).__name__, exc)
            results.append(Completion(request_id, "skipped", str(exc)))
        except Exception as exc:  # a bug: end this request (Failed, named) and go on with the next
            log.exception("restore %s failed unexpectedly", request_id)
            lifecycle.end_with_error(store, request_id, TARGET, exc, settings.notify)
            restore_record.remove(store.bucket, request_id)
            results.append(Completion(request_id, "failed", f"{type(exc).__name__}: {exc}"))
    return results


class _Step:
    def __init__(
        self,
        settings: FirestoreSettings,
        store: StatusStore,
        client: FirestoreAdminClient,
        now: datetime,
        data_client: verify.DataClient,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.now = now
        self.data_client = data_client
        self.generation = 0

    def advance(self, request_id: str, timeout: timedelta) -> Completion:
        found = restore_record.read(self.store.bucket, request_id)
        record = self.store.get(request_id)
        if found is None or record is None or record.final:
            if found is not None:
                restore_record.remove(self.store.bucket, request_id)
            return Completion(request_id, "skipped", "already ended")
        job, self.generation = found
        if job.operation is None:
            recovered = self._recover(job)
            if isinstance(recovered, Completion):
                return recovered
            job = recovered
            if job.operation is None:
                return Completion(request_id, "running", f"{job.step} is being started")
        status = admin.operation_status(self.client, job.operation)
        if not status.done:
            return self._waiting(job, status, timeout)
        finished = {"create_database": self._created, "import": self._imported}
        return finished.get(job.step, self._cleaned)(job, status)

    # --- starting steps (idempotent, so a lost operation name is re-issued) --------------

    def _save(self, job: PendingImport, **changes: Any) -> PendingImport:
        job, self.generation = restore_record.update(
            self.store.bucket, job, self.generation, **changes
        )
        return job

    def _begin(self, job: PendingImport, step: str) -> PendingImport:
        """Record ``step`` before starting it, then start it and record its operation."""
        job = self._save(
            job, step=step, operation=None, step_started=self.now, timeout_reported=False
        )
        if step == "import":
            operation = admin.start_import(
                self.client, job.database_name, job.input_uri_prefix, job.collection_ids
            )
        else:
            operation = admin.create_database(self.client, job.project, job.database, job.location)
        self.store.progress(job.request_id).phase("InProgress", step=step, operation=operation)
        return self._save(job, operation=operation)

    def _cleanup(self, job: PendingImport) -> Completion:
        """Start deleting the scratch database (ending at once if it is already gone)."""
        job = self._save(
            job, step="cleanup", operation=None, step_started=self.now, timeout_reported=False
        )
        operation = admin.delete_database(self.client, job.database_name)
        if operation is None:
            return self._end(job, deleted=True)
        self._save(job, operation=operation)
        return Completion(job.request_id, "running", f"deleting {job.database_name}")

    def _recover(self, job: PendingImport) -> PendingImport | Completion:
        exists = admin.get_database(self.client, job.database_name) is not None
        if job.step == "create_database" and exists:
            return self._begin(job, "import")
        if job.step == "import":
            operation = admin.find_operation(
                self.client,
                "import",
                job.database_name,
                job.input_uri_prefix,
                since=job.step_started,
            )
            if operation is not None:
                return self._save(job, operation=operation)
        if job.step == "cleanup" and not exists:
            return self._end(job, deleted=True)
        if self.now - job.step_started < START_GRACE:
            return job
        log.warning(
            "restore %s: re-issuing step %s, whose start was not recorded", job.request_id, job.step
        )
        return self._cleanup(job) if job.step == "cleanup" else self._begin(job, job.step)

    def _waiting(
        self, job: PendingImport, status: admin.OperationStatus, timeout: timedelta
    ) -> Completion:
        self.store.progress(job.request_id).update(step=job.step, documents=status.documents)
        elapsed = self.now - job.step_started
        if elapsed <= timeout or job.timeout_reported:
            return Completion(job.request_id, "running", status.describe())
        self._save(job, timeout_reported=True)
        error = (
            f"step {job.step} of restore {job.request_id} has been running for {elapsed} "
            f"(timeout {timeout}): {status.describe()}; it is still checked"
        )
        reporting.send(
            self.settings.notify,
            reporting.failure_report(
                TARGET, "restore", job.request_id, job.started, self.now, error
            ),
        )
        return Completion(job.request_id, "overdue", error)

    # --- finished steps -------------------------------------------------------------------

    def _created(self, job: PendingImport, status: admin.OperationStatus) -> Completion:
        if not status.succeeded:
            return self._end_with_error(
                job, f"creating the scratch database failed: {status.error}"
            )
        job = self._begin(job, "import")
        return Completion(job.request_id, "running", f"import started: {job.operation}")

    def _imported(self, job: PendingImport, status: admin.OperationStatus) -> Completion:
        if not status.succeeded:
            what = "was cancelled" if status.cancelled else "failed"
            cleanup = ""
            if job.mode == "test":
                admin.delete_database(self.client, job.database_name)
                cleanup = f"; scratch database {job.database_name} is being deleted"
            return self._end_with_error(job, f"the import {what}: {status.error}{cleanup}")
        client = self.data_client(job.project, job.database)
        if job.rewrite_references and not job.rewrite.get("done"):
            return self._rewrite(job, status, client)
        self.store.progress(job.request_id).phase("Verifying", documents=status.documents)
        groups = set(job.expected) or set(job.collection_ids)
        found = verify.count_documents(client, groups, job.database_name) if groups else {}
        result = verify.with_contents(
            _result(job, status, found), job, self.store.bucket, client, self.settings.verify_sample
        )
        job = self._save(job, result=result)
        if job.mode == "restore":
            return self._end(job, deleted=False)
        return self._cleanup(job)

    def _rewrite(
        self, job: PendingImport, status: admin.OperationStatus, client: Any
    ) -> Completion:
        """Advance the rewrite pass (saved after each batch); verify once it is done."""

        def save(state: references.RewriteState) -> None:
            nonlocal job
            job = self._save(job, rewrite=state.to_json())
            progress = {"step": "rewrite_references", "references": state.to_json()}
            self.store.progress(job.request_id).update(**progress)

        work = verify.rewrite_pass(job, self.store.bucket, client)
        state = references.advance(work, references.RewriteState.from_json(job.rewrite), save)
        if not state.done:
            read = state.documents_read
            return Completion(job.request_id, "running", f"rewriting references: {read} read")
        return self._imported(job, status)

    def _cleaned(self, job: PendingImport, status: admin.OperationStatus) -> Completion:
        gone = status.succeeded and admin.get_database(self.client, job.database_name) is None
        return self._end(job, deleted=gone, error=status.error)

    def _end(self, job: PendingImport, *, deleted: bool, error: str | None = None) -> Completion:
        details = dict(job.result["details"])
        notes = [IMPORT_NOTE, verify.reference_note(job)] if job.mode == "restore" else []
        if job.mode == "test":
            details["scratch_database_deleted"] = deleted
            if not deleted:
                details["failures"] = [
                    f"scratch database {job.database_name} was not deleted"
                    + (f": {error}" if error else "")
                    + "; delete it by hand"
                ]
            notes.append(
                f"scratch database {job.database_name} was created, imported into, "
                f"verified{' and deleted' if deleted else ''}"
            )
        verified = job.result["verified"]
        outcome = RestoreOutcome(
            TARGET,
            job.mode,
            job.backup,
            job.database_name,
            verified,
            counts=dict(job.result["counts"]),
            notes=tuple(notes),
            details=details,
        )
        lifecycle.end(self.store, job.request_id, TARGET, outcome, self.settings.notify)
        restore_record.remove(self.store.bucket, job.request_id)
        state = "failed" if verified is False else "succeeded"
        return Completion(job.request_id, state, f"{job.mode} ended, verified={verified}")

    def _end_with_error(self, job: PendingImport, message: str) -> Completion:
        lifecycle.end_with_error(
            self.store, job.request_id, TARGET, DRError(message), self.settings.notify
        )
        restore_record.remove(self.store.bucket, job.request_id)
        return Completion(job.request_id, "failed", message)


def _result(
    job: PendingImport, status: admin.OperationStatus, found: Mapping[str, int]
) -> dict[str, Any]:
    """Verification of an import against the manifest (see the module docstring)."""
    imported = status.documents
    complete = job.expected_documents is None or imported == job.expected_documents
    if job.mode == "test":
        differ = verify.mismatches(job.expected, found) if job.expected else {}
    else:
        differ = {
            c: f"expected at least {n}, found {found.get(c, 0)}"
            for c, n in job.expected.items()
            if found.get(c, 0) < n
        }
    checked = bool(job.expected) or job.expected_documents is not None
    return {
        "verified": (complete and not differ) if checked else None,
        "counts": dict(found),
        "details": {
            "expected": dict(job.expected),
            "expected_documents": job.expected_documents,
            "imported_documents": imported,
            "mismatches": differ,
            "operation": job.operation,
        },
    }
