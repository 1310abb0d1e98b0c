"""How every restore ends, wherever it ran (the dispatcher, a Cloud Run job, a completion step).

A restore that finishes, however it finishes, does three things in this
order: record the final phase with its result, release the target's lock, and
send one notification. Keeping them together means an asynchronous restore (a
MongoDB job, a Firestore import) ends exactly like a synchronous one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from shared import reporting
from shared.config import NotifySettings
from shared.notify import RunReport
from shared.restore import lock
from shared.restore.status import StatusRecord, StatusStore
from shared.restoring import RestoreOutcome

if TYPE_CHECKING:
    from shared.errors import DRError

log = logging.getLogger(__name__)


def final_phase(outcome: RestoreOutcome) -> str:
    """Completed, unless verification failed (Failed) or some items failed (PartiallyFailed)."""
    if outcome.verified is False:
        return "Failed"
    if outcome.details.get("failures"):
        return "PartiallyFailed"
    return "Completed"


def succeed(
    store: StatusStore,
    request_id: str,
    target: str,
    outcome: RestoreOutcome,
    notify: NotifySettings,
) -> StatusRecord:
    phase = final_phase(outcome)
    error = "verification against the manifest failed" if outcome.verified is False else None
    record = store.set_phase(
        request_id, phase, result=outcome.to_json(), **({"error": error} if error else {})
    )
    _end(store, record, target, phase, outcome, error, notify)
    return record


def fail(
    store: StatusStore, request_id: str, target: str, error: DRError, notify: NotifySettings
) -> StatusRecord:
    message = f"{type(error).__name__}: {error}"
    record = store.set_phase(request_id, "Failed", error=message)
    _end(store, record, target, "Failed", None, message, notify)
    return record


def _end(
    store: StatusStore,
    record: StatusRecord,
    target: str,
    phase: str,
    outcome: RestoreOutcome | None,
    error: str | None,
    notify: NotifySettings,
) -> None:
    lock.release(store.bucket, target, record.request_id)
    started = datetime.fromisoformat(str(record.data["created"]))
    finished = datetime.fromisoformat(str(record.data.get("finished") or record.data["updated"]))
    mode = outcome.mode if outcome else str(record.data.get("mode") or "restore")
    report = RunReport(
        target=target,
        operation="test restore"
        if mode == "test"
        else ("restore plan" if mode == "plan" else "restore"),
        status={"Completed": "succeeded", "PartiallyFailed": "partially_failed"}.get(
            phase, "failed"
        ),
        run_id=record.request_id,
        started=started,
        finished=finished,
        counts=dict(outcome.counts) if outcome else {},
        manifest_path=outcome.backup if outcome else None,
        error=error,
        details={
            "destination": outcome.destination if outcome else "",
            "verified": str(outcome.verified) if outcome else "",
            "status record": f"gs://{store.bucket.name}/restores/{record.request_id}/status.json",
        },
    )
    reporting.send(notify, report)
