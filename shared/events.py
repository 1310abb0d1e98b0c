"""From a CloudEvent (a Pub/Sub push) to a validated JSON request, and the handler wrapper.

Every function is triggered by Pub/Sub: Cloud Scheduler publishes the backup
messages, operators publish restore requests. :func:`serve` is the one place
that decides what a handler's outcome means for Pub/Sub:

* success, or a :class:`~shared.errors.DRError` that is not retryable (bad
  message, missing backup, failed check): the error is logged at ERROR and the
  message is acknowledged. Redelivering a malformed message or a refused
  restore cannot succeed later, and the target code has already reported.
* a retryable :class:`~shared.errors.DRError` (a server was unreachable) or
  any other exception (a bug, a crash): it propagates, the function fails and
  Pub/Sub redelivers with backoff; after the subscription's maximum attempts
  the message goes to the dead-letter topic.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared import logs
from shared.errors import DRError, RequestError

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  # requests are small; anything larger is not one of ours


@dataclass(frozen=True)
class PubSubMessage:
    data: bytes
    message_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    publish_time: str | None = None

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; a :class:`RequestError` saying what is wrong otherwise."""
        if len(self.data) > MAX_MESSAGE_BYTES:
            raise RequestError(
                f"message is {len(self.data)} bytes; the limit is {MAX_MESSAGE_BYTES}"
            )
        if not self.data.strip():
            return {}
        try:
            body = json.loads(self.data.decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError("message body is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise RequestError(
                f"message body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        except RecursionError:
            raise RequestError("message body is nested too deeply to be a request") from None
        if not isinstance(body, dict):
            raise RequestError(f"message body must be a JSON object, not {type(body).__name__}")
        return body


def pubsub_message(event_data: Any, event_id: str = "") -> PubSubMessage:
    """Extract the Pub/Sub message from a CloudEvent's ``data`` (push or Eventarc shape)."""
    if not isinstance(event_data, Mapping) or not isinstance(event_data.get("message"), Mapping):
        raise RequestError("event is not a Pub/Sub message (no 'message' object)")
    message = event_data["message"]
    raw = message.get("data") or ""
    try:
        data = base64.b64decode(raw, validate=True) if raw else b""
    except (binascii.Error, TypeError, ValueError):
        raise RequestError("Pub/Sub message data is not valid base64") from None
    return PubSubMessage(
        data=data,
        message_id=str(message.get("messageId") or message.get("message_id") or event_id),
        attributes={str(k): str(v) for k, v in (message.get("attributes") or {}).items()},
        publish_time=message.get("publishTime") or message.get("publish_time"),
    )


def serve(cloud_event: Any, target: str, handler: Callable[[PubSubMessage], object]) -> None:
    """Run ``handler`` for one CloudEvent with logging configured and labelled."""
    logs.configure()
    project = os.environ.get("GOOGLE_CLOUD_PROJECT")
    trace = logs.trace_from_traceparent(_attribute(cloud_event, "traceparent"), project)
    event_id = str(_attribute(cloud_event, "id") or "")
    with logs.run_context(trace=trace, target=target, event_id=event_id):
        try:
            message = pubsub_message(getattr(cloud_event, "data", None), event_id)
            handler(message)
        except DRError as exc:
            if exc.retryable:
                log.warning("%s: %s (will be retried)", type(exc).__name__, exc)
                raise
            log.error(
                "%s: %s",
                type(exc).__name__,
                exc,
                extra={"fields": {"error_type": type(exc).__name__, "exit_code": exc.exit_code}},
            )


def _attribute(cloud_event: Any, name: str) -> Any:
    try:
        return cloud_event[name]
    except (KeyError, TypeError):
        return None


@dataclass(frozen=True)
class BackupTrigger:
    """A scheduler message: ``{"tier": "daily"}``, optionally ``"dry_run": true``."""

    tier: str
    dry_run: bool = False


def backup_trigger(message: PubSubMessage, tiers: tuple[str, ...]) -> BackupTrigger:
    """Validate a Cloud Scheduler message for a target that runs the given tiers."""
    body = message.json()
    unknown = sorted(set(body) - {"tier", "dry_run"})
    if unknown:
        raise RequestError(f"unknown field(s) in backup message: {', '.join(unknown)}")
    tier = body.get("tier", "daily")
    if tier not in tiers:
        raise RequestError(f"tier {tier!r} is not one of {', '.join(tiers)}")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise RequestError("dry_run must be true or false")
    return BackupTrigger(tier=tier, dry_run=dry_run)
