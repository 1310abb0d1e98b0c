"""The ``dr-restore`` dispatcher: one message in, one restore (or one clear refusal) out.

Order matters, and each step is there for a 3 a.m. reason:

1. **Status record first**, keyed by ``request_id`` (or the Pub/Sub message id)
   and created with a generation precondition: a duplicate delivery finds the
   record and stops, so a request runs once however often it is delivered.
2. **Validate** the message against the schema, then against reality (the
   backup exists, the settings load). A bad request ends Failed with a
   message naming the problem, is acknowledged, and touches nothing.
3. **Safety**: a restore that would overwrite a production target runs only
   when ``confirm`` names that target; otherwise it is *planned*: the result
   says what would be written or overwritten, and nothing is.
4. **Lock** the target (one restore per target at a time).
5. **Run** the target's restore. Synchronous restores end here; asynchronous
   ones (a Cloud Run job, a Firestore import) end in their own process, through
   :mod:`shared.restore.lifecycle` all the same.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

from shared.config import RestoreSettings
from shared.errors import ConflictError, DRError, RequestError
from shared.events import PubSubMessage
from shared.restore import lifecycle, lock, schema
from shared.restore.schema import RestoreRequest
from shared.restore.status import StatusRecord, StatusStore
from shared.restoring import Progress, RestoreOutcome

log = logging.getLogger(__name__)


class TargetRestore(Protocol):
    """What the dispatcher needs of a target (see :mod:`shared.restore.targets`)."""

    def check(self, request: RestoreRequest) -> str:
        """Validate against settings and the catalog; return the backup to restore (a path)."""
        ...

    def production_name(self, request: RestoreRequest) -> str | None:
        """The production target this request would overwrite (``confirm`` must name it)."""
        ...

    def plan(self, request: RestoreRequest) -> RestoreOutcome:
        """A dry run: what would be written or overwritten, touching nothing."""
        ...

    def start(
        self, request: RestoreRequest, request_id: str, progress: Progress
    ) -> RestoreOutcome | None:
        """Run the restore; ``None`` when it continues asynchronously elsewhere."""
        ...


def request_id_of(body: Mapping[str, Any] | None, message: PubSubMessage) -> str:
    """The idempotency key: a well-formed ``request_id``, else the Pub/Sub message id."""
    candidate = body.get("request_id") if body else None
    if isinstance(candidate, str) and re.match(schema.REQUEST_ID_PATTERN, candidate):
        return candidate
    return f"msg-{message.message_id}" if message.message_id else "msg-unknown"


def dispatch(
    message: PubSubMessage,
    settings: RestoreSettings,
    store: StatusStore,
    targets: Mapping[str, Callable[[], TargetRestore]],
) -> StatusRecord:
    """Handle one ``dr-restore`` message; returns the request's status record."""
    body: Mapping[str, Any] | None = None
    parse_error: RequestError | None = None
    try:
        body = message.json()
    except RequestError as exc:
        parse_error = exc
    request_id = request_id_of(body, message)
    recorded = (
        dict(body) if body is not None else {"raw": message.data[:200].decode("utf-8", "replace")}
    )
    try:
        store.create(request_id, recorded, message.message_id)
    except ConflictError:
        existing = store.get(request_id)
        phase = existing.phase if existing else "unknown"
        log.warning(
            "restore request %s was already received (phase %s): not run again", request_id, phase
        )
        if existing is None:
            raise
        return existing
    target = str(body.get("target")) if body and body.get("target") in schema.TARGETS else "restore"
    try:
        if parse_error is not None:
            raise parse_error
        return _run(store, settings, request_id, body or {}, targets)
    except DRError as exc:
        return lifecycle.fail(store, request_id, target, exc, settings.notify)


def _run(
    store: StatusStore,
    settings: RestoreSettings,
    request_id: str,
    body: Mapping[str, Any],
    targets: Mapping[str, Callable[[], TargetRestore]],
) -> StatusRecord:
    store.set_phase(request_id, "Validating")
    request = schema.validate(body)
    restore = targets[request.target]()
    backup = restore.check(request)
    production = restore.production_name(request)
    unconfirmed = production is not None and request.get("confirm") != production
    if request.dry_run or unconfirmed:
        outcome = restore.plan(request)
        if unconfirmed and not request.dry_run:
            outcome = _refused(outcome, production or "")
        return lifecycle.succeed(store, request_id, request.target, outcome, settings.notify)
    lock.acquire(
        store.bucket,
        request.target,
        request_id,
        timedelta(minutes=settings.lock_ttl_minutes),
        store.clock(),
    )
    store.set_phase(
        request_id, "InProgress", backup=backup, mode="test" if request.test_mode else "restore"
    )
    outcome_or_none = restore.start(request, request_id, store.progress(request_id))
    if outcome_or_none is None:
        current = store.get(request_id)
        if current is None:
            raise ConflictError(f"the status record of restore {request_id} disappeared")
        return current
    return lifecycle.succeed(store, request_id, request.target, outcome_or_none, settings.notify)


def _refused(outcome: RestoreOutcome, production: str) -> RestoreOutcome:
    note = (
        f"NOT RUN: this restore would overwrite production {production!r}; "
        f'publish it again with "confirm": "{production}" to run it'
    )
    return RestoreOutcome(
        target=outcome.target,
        mode="plan",
        backup=outcome.backup,
        destination=outcome.destination,
        verified=None,
        counts=outcome.counts,
        notes=(note, *outcome.notes),
        plan=outcome.plan,
        details={**outcome.details, "refused": "unconfirmed production overwrite"},
    )
