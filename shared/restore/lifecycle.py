"""How every restore ends, wherever it ran (the dispatcher, a Cloud Run job, a completion step).

A restore that finishes, however it finishes, does three things in this
order: release the target's lock, record the terminal phase with its result,
and send one notification. The lock goes first so that a request sent the
moment the phase appears is not refused as concurrent. Keeping the three
together means an asynchronous restore (a MongoDB job, a Firestore import)
ends exactly like a synchronous one, and the phase and exit code come from
one table (:mod:`shared.restore.ending`) whatever the path.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from shared import reporting
from shared.config import NotifySettings
from shared.restore import ending, lock
from shared.restore.status import StatusRecord, StatusStore
from shared.target import RestoreOutcome

log = logging.getLogger(__name__)


def end(
    store: StatusStore,
    request_id: str,
    target: str,
    outcome: RestoreOutcome,
    notify: NotifySettings,
) -> StatusRecord:
    """End the request with its outcome: its phase follows from it (see :mod:`.ending`)."""
    phase = ending.phase_of_outcome(outcome)
    fields: dict[str, Any] = {"result": outcome.to_json()}
    error = None
    if outcome.verified is False:
        error = "IntegrityError: verification against the manifest failed"
        fields.update(
            error=error, error_class="IntegrityError", exit_code=ending.outcome_exit_code(outcome)
        )
    return _end(store, request_id, target, phase, outcome, error, notify, fields)


def end_with_error(
    store: StatusStore,
    request_id: str,
    target: str,
    error: BaseException,
    notify: NotifySettings,
    result: RestoreOutcome | None = None,
) -> StatusRecord:
    """End the request in Refused (a safety rule) or Failed, naming the error's class."""
    phase = ending.phase_of_error(error)
    message = f"{type(error).__name__}: {error}"
    fields: dict[str, Any] = {
        "error": message,
        "error_class": type(error).__name__,
        "exit_code": ending.error_exit_code(error),
    }
    confirm = getattr(error, "confirm", None)
    if confirm:
        fields["confirm"] = confirm
    if result is not None:
        fields["result"] = result.to_json()
    return _end(store, request_id, target, phase, result, message, notify, fields)


def _end(
    store: StatusStore,
    request_id: str,
    target: str,
    phase: str,
    outcome: RestoreOutcome | None,
    error: str | None,
    notify: NotifySettings,
    fields: dict[str, Any],
) -> StatusRecord:
    lock.release(store.bucket, target, request_id)
    record = store.set_phase(request_id, phase, **fields)
    started = datetime.fromisoformat(str(record.data["created"]))
    finished = datetime.fromisoformat(str(record.data.get("finished") or record.data["updated"]))
    where = f"gs://{store.bucket.name}/restores/{record.request_id}/status.json"
    reporting.send(
        notify,
        reporting.restore_report(
            target,
            phase,
            ending.exit_code_for(record.data),
            record.request_id,
            (started, finished),
            outcome,
            error,
            where,
        ),
    )
    return record
