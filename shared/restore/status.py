"""Status records of restore requests, one JSON object per request in the state bucket.

``restores/<request-id>/status.json`` is created once, with
``if_generation_match=0``: that create is also the idempotency check, so the
same request delivered twice finds its record and does not run again. Every
later change is a read-modify-write guarded by the generation that was read,
so the dispatcher, a Cloud Run job and the completion step can all update the
same record without losing each other's changes.

Phases: Accepted → Validating → InProgress → Verifying → Completed |
Planned | Refused | PartiallyFailed | Failed (the five terminal phases and
their exit codes: :mod:`shared.restore.ending`). They only move forward: several parties report
phases (the dispatcher, then the target's restore), and a report of the
current or an earlier phase adds its details without moving the record back.
The record keeps when each phase began, so the time from request to
Completed (the achieved RTO) is plain to read.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import storage
from shared.clock import Clock, utc_now
from shared.errors import ConflictError, NotFound
from shared.events import escape_text

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

log = logging.getLogger(__name__)

PHASES = (
    "Accepted",
    "Validating",
    "InProgress",
    "Verifying",
    "Completed",
    "Planned",
    "Refused",
    "PartiallyFailed",
    "Failed",
)
FINAL_PHASES = frozenset({"Completed", "Planned", "Refused", "PartiallyFailed", "Failed"})
PREFIX = "restores/"
_UPDATE_ATTEMPTS = 10


def record_path(request_id: str) -> str:
    return f"{PREFIX}{request_id}/status.json"


@dataclass(frozen=True)
class StatusRecord:
    request_id: str
    data: Mapping[str, Any]
    generation: int

    @property
    def phase(self) -> str:
        return str(self.data.get("phase", ""))

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES


def storable(value: Any) -> Any:
    """``value`` as JSON that can always be written and read back.

    A request is recorded as it was sent; text that is not valid Unicode (a
    lone surrogate) is kept backslash-escaped and a number that is not JSON
    (``NaN``) as its text, so a record is never lost to what it records.
    """
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Mapping):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


class StatusStore:
    """Reads and writes status records; ``clock`` is injected for tests."""

    def __init__(self, bucket: Bucket, clock: Clock = utc_now) -> None:
        self.bucket = bucket
        self.clock = clock

    def create(self, request_id: str, request: Mapping[str, Any], message_id: str) -> StatusRecord:
        """Record a new request as Accepted; :class:`ConflictError` if it was seen before."""
        now = self.clock().isoformat()
        data = {
            "request_id": request_id,
            "message_id": message_id,
            "request": storable(request),
            "phase": "Accepted",
            "phases": [{"phase": "Accepted", "at": now}],
            "created": now,
            "updated": now,
            "errors": [],
            "progress": {},
            "result": None,
        }
        generation = storage.create_json(self.bucket, record_path(request_id), data)
        return StatusRecord(request_id, data, generation)

    def get(self, request_id: str) -> StatusRecord | None:
        found = storage.read_json(self.bucket, record_path(request_id))
        if found is None:
            return None
        return StatusRecord(request_id, found[0], found[1])

    def require(self, request_id: str) -> StatusRecord:
        """The record, or :class:`NotFound` naming the request and where it was looked for."""
        found = self.get(request_id)
        if found is None:
            raise NotFound(
                f"no restore request {request_id!r} is recorded "
                f"(gs://{self.bucket.name}/{record_path(request_id)})"
            )
        return found

    def update(self, request_id: str, change: Callable[[dict[str, Any]], None]) -> StatusRecord:
        """Apply ``change`` to the current record, retrying when someone else wrote in between."""
        for _ in range(_UPDATE_ATTEMPTS):
            current = self.require(request_id)
            data = dict(current.data)
            change(data)
            data["updated"] = self.clock().isoformat()
            try:
                generation = storage.replace_json(
                    self.bucket, record_path(request_id), data, current.generation
                )
            except ConflictError:
                continue
            return StatusRecord(request_id, data, generation)
        raise ConflictError(f"status of restore {request_id} kept changing; gave up updating it")

    def set_phase(self, request_id: str, phase: str, **fields: Any) -> StatusRecord:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        now = self.clock().isoformat()

        def change(data: dict[str, Any]) -> None:
            current = str(data.get("phase", PHASES[0]))
            if current in FINAL_PHASES:
                raise ConflictError(f"restore {request_id} already ended ({current})")
            if PHASES.index(phase) > PHASES.index(current):
                data["phase"] = phase
                data["phases"] = [*data.get("phases", []), {"phase": phase, "at": now}]
            if phase in FINAL_PHASES:
                data["finished"] = now
            for key, value in fields.items():
                if key == "error":
                    data["errors"] = [*data.get("errors", []), storable(value)]
                else:
                    data[key] = storable(value)

        record = self.update(request_id, change)
        log.info("restore %s is %s", request_id, phase, extra={"fields": {"phase": phase}})
        return record

    def progress(self, request_id: str) -> StatusProgress:
        return StatusProgress(self, request_id)


class StatusProgress:
    """The :class:`shared.target.Progress` that writes into a status record."""

    def __init__(self, store: StatusStore, request_id: str) -> None:
        self._store = store
        self._request_id = request_id

    def phase(self, name: str, **details: Any) -> None:
        self._store.set_phase(self._request_id, name, **({"detail": details} if details else {}))

    def update(self, **details: Any) -> None:
        def change(data: dict[str, Any]) -> None:
            data["progress"] = {**data.get("progress", {}), **details}

        self._store.update(self._request_id, change)
