"""The ``dr-restore`` dispatcher: one message in, one restore (or one clear refusal) out.

Order matters, and each step is there for a 3 a.m. reason:

1. **Status record first**, keyed by ``request_id`` (or the Pub/Sub message id)
   and created with a generation precondition: a duplicate delivery finds the
   record and does not run again. From here on every request ends in a
   terminal phase, whatever goes wrong (see :func:`dispatch`).
2. **Validate** the message (strictly parsed, see
   :func:`shared.events.strict_json`) against the schema, then against
   reality (the backup exists, the settings load). A bad request ends Failed
   with a message naming the problem, is acknowledged, and touches nothing.
3. **Safety**: a restore into a destination that holds data (production, or
   any non-empty database or bucket) runs only when ``confirm`` names it;
   otherwise it ends Refused with the plan and the exact ``confirm`` to send.
   A dry run ends Planned.
4. **Lock** the target (one restore per target at a time).
5. **Run** the target's restore. Synchronous restores end here; asynchronous
   ones (a Cloud Run job, a Firestore import) end in their own process, through
   :mod:`shared.restore.lifecycle` all the same.

Targets come in through the registry (:mod:`shared.registry`) as
:class:`~shared.target.RestoreTarget` implementations: this module knows
no target by name.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from shared.config import RestoreSettings
from shared.errors import ConflictError, DRError, RefusedError, RequestError
from shared.events import PubSubMessage
from shared.restore import lifecycle, lock, schema
from shared.restore.status import StatusRecord, StatusStore, storable
from shared.target import Registered, RestoreOutcome

log = logging.getLogger(__name__)


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
    targets: Mapping[str, Registered],
) -> StatusRecord:
    """Handle one ``dr-restore`` message; returns the request's status record.

    Redeliveries: the same body under a recorded id returns that record (or
    resumes or fails it if it had not ended); a different body under a used
    ``request_id`` is rejected in a record of its own that names the first.
    """
    body: dict[str, Any] | None = None
    parse_error: RequestError | None = None
    try:
        body = message.json()
    except RequestError as exc:
        parse_error = exc
    request_id = request_id_of(body, message)
    recorded = storable(body if body is not None else {"raw": _raw(message.data)})
    try:
        store.create(request_id, recorded, message.message_id)
    except ConflictError:
        return _seen_before(message, settings, store, targets, request_id, recorded)
    return _to_the_end(store, settings, request_id, recorded, parse_error, targets)


def _raw(data: bytes) -> str:
    return data[:512].decode("utf-8", "backslashreplace") + ("..." if len(data) > 512 else "")


def _target_of(body: Mapping[str, Any], targets: Mapping[str, Registered]) -> str:
    target = body.get("target")
    return target if isinstance(target, str) and target in targets else "restore"


def _to_the_end(
    store: StatusStore,
    settings: RestoreSettings,
    request_id: str,
    body: Mapping[str, Any],
    parse_error: RequestError | None,
    targets: Mapping[str, Registered],
) -> StatusRecord:
    """Run the request; any error at all ends it Failed (or Refused) with one notification."""
    try:
        if parse_error is not None:
            raise parse_error
        return _run(store, settings, request_id, body, targets)
    except Exception as exc:  # every request ends: also the errors nobody planned for
        if not isinstance(exc, DRError):
            log.exception("restore request %s failed unexpectedly", request_id)
        return lifecycle.end_with_error(
            store, request_id, _target_of(body, targets), exc, settings.notify
        )


def _seen_before(
    message: PubSubMessage,
    settings: RestoreSettings,
    store: StatusStore,
    targets: Mapping[str, Registered],
    request_id: str,
    recorded: Mapping[str, Any],
) -> StatusRecord:
    existing = store.get(request_id)
    if existing is None:
        raise ConflictError(f"the status record of restore {request_id} disappeared")
    if existing.data.get("request") != recorded:
        return _reused_id(message, settings, store, existing, recorded, targets)
    if existing.final:
        log.warning(
            "restore request %s was already received (phase %s): not run again",
            request_id,
            existing.phase,
        )
        return existing
    if existing.phase in ("Accepted", "Validating"):
        log.warning("restore request %s was delivered again before it ran: resuming", request_id)
        return _to_the_end(store, settings, request_id, recorded, None, targets)
    progress = existing.data.get("progress") or {}
    running = progress.get("execution") or progress.get("operation")
    if running:
        log.warning(
            "restore request %s was delivered again; it runs in %s, which ends it",
            request_id,
            running,
        )
        return existing
    interrupted = ConflictError(
        f"the restore was interrupted in phase {existing.phase} (its handler stopped before "
        "the end; the destination may be partly written): check it and send a new request"
    )
    return lifecycle.end_with_error(
        store, request_id, _target_of(recorded, targets), interrupted, settings.notify
    )


def _reused_id(
    message: PubSubMessage,
    settings: RestoreSettings,
    store: StatusStore,
    first: StatusRecord,
    recorded: Mapping[str, Any],
    targets: Mapping[str, Registered],
) -> StatusRecord:
    """A ``request_id`` sent again with a different body: its own record, refused by name."""
    own_id = f"msg-{message.message_id or 'unknown'}"
    try:
        store.create(own_id, recorded, message.message_id)
    except ConflictError:  # this rejection itself delivered again
        return store.get(own_id) or first
    error = RequestError(
        f"request_id {first.request_id!r} was already used by a different request (message "
        f"{first.data.get('message_id')}, received {first.data.get('created')}, phase "
        f"{first.phase}); this one was not run: send it with a new request_id"
    )
    return lifecycle.end_with_error(
        store, own_id, _target_of(recorded, targets), error, settings.notify
    )


def _run(
    store: StatusStore,
    settings: RestoreSettings,
    request_id: str,
    body: Mapping[str, Any],
    targets: Mapping[str, Registered],
) -> StatusRecord:
    store.set_phase(request_id, "Validating")
    request = schema.validate(body, {name: entry.shape for name, entry in targets.items()})
    restore = targets[request.target].restore()
    backup = restore.resolve(request.typed)
    production = restore.production_name(request.typed)
    unconfirmed = production is not None and request.confirm != production
    if request.dry_run or unconfirmed:
        outcome = _conditional(restore.plan(request.typed), production if unconfirmed else None)
        if request.dry_run:
            return lifecycle.end(store, request_id, request.target, outcome, settings.notify)
        refusal = RefusedError(
            f"this restore would overwrite {production!r}, which holds data; nothing was "
            f'written. To run it, send it again with "confirm": "{production}" '
            "(or restore elsewhere, or use test_mode)",
            confirm=production,
        )
        return lifecycle.end_with_error(
            store, request_id, request.target, refusal, settings.notify, result=outcome
        )
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
    outcome_or_none = restore.start(request.typed, request_id, store.progress(request_id))
    if outcome_or_none is None:
        current = store.get(request_id)
        if current is None:
            raise ConflictError(f"the status record of restore {request_id} disappeared")
        return current
    return lifecycle.end(store, request_id, request.target, outcome_or_none, settings.notify)


PLAN_WORDS = {"written": "to write", "overwritten": "to overwrite", "deleted": "to delete"}


def _conditional(outcome: RestoreOutcome, unconfirmed: str | None) -> RestoreOutcome:
    """The plan as a plan: what *would* be written, and what it would need to run.

    Counts a target reports in the past tense ("overwritten") are renamed to
    what they are in a plan ("to overwrite"): nothing has happened yet.
    """
    counts = {PLAN_WORDS.get(what, what): count for what, count in outcome.counts.items()}
    shown = ", ".join(f"{count:,} {what}" for what, count in counts.items())
    if unconfirmed:
        summary = f"NOT RUN: would overwrite {unconfirmed!r}"
        needs = [f'to run it, send "confirm": "{unconfirmed}"']
    else:
        summary, needs = f"NOT RUN: would restore into {outcome.destination}", []
    notes = [summary + (f" ({shown})" if shown else ""), *needs]
    return dataclasses.replace(
        outcome, mode="plan", verified=None, counts=counts, notes=(*notes, *outcome.notes)
    )
