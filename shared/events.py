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
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import config, logs
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
        return strict_json(self.data, "message body")


def strict_json(data: bytes, what: str) -> dict[str, Any]:
    """Parse ``data`` as one JSON object that can only be read one way.

    Python's ``json`` reads a key given twice as its last value, accepts
    ``NaN``/``Infinity`` (not JSON), lone surrogates (not text) and numbers
    of any length. A request that showed ``"dry_run": true`` to the person
    who wrote it must not run as ``false``, and a value must survive being
    stored and shown again, so each of these is a :class:`RequestError`
    naming the field, as are bodies above :data:`MAX_MESSAGE_BYTES` and
    nesting deeper than :data:`MAX_DEPTH`.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise RequestError(f"{what} is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    if not data.strip():
        return {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            f"{what} is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    try:
        body = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_not_json,
            parse_int=_integer,
            parse_float=_finite,
        )
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise RequestError(f"{what} is nested too deeply to be a request") from None
    if not isinstance(body, dict):
        raise RequestError(f"{what} must be a JSON object, not {type(body).__name__}")
    _check_values(body, "", 1)
    return body


MAX_DEPTH = 8  # a request is flat; a list of collection ids is the deepest field
MAX_NUMBER_CHARACTERS = 32


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise RequestError(
                f"field {_shown(key)} is given more than once; a request must say each thing once"
            )
        seen[key] = value
    return seen


def _not_json(token: str) -> Any:
    raise RequestError(f"{token} is not a JSON number; numbers must be finite")


def _integer(digits: str) -> int:
    if len(digits) > MAX_NUMBER_CHARACTERS:
        raise RequestError(f"a number of {len(digits)} digits is not a request value")
    return int(digits)


def _finite(text: str) -> float:
    value = float(text)
    if len(text) > MAX_NUMBER_CHARACTERS or value in (float("inf"), float("-inf")):
        raise RequestError(f"the number {text[:40]} is out of range for a request value")
    return value


def _check_values(value: Any, where: str, depth: int) -> None:
    """Every string is encodable text, and nesting stays shallow (named by its path)."""
    name = where or "request"
    if depth > MAX_DEPTH:
        raise RequestError(f"field {name} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        _check_text(value, name)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"a field name in {name}")
            _check_values(item, f"{where}.{key}" if where else key, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_values(item, f"{name}[{index}]", depth + 1)


def _check_text(text: str, name: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RequestError(
            f"{name} holds {_shown(text[exc.start : exc.end])}, a lone surrogate: not text"
        ) from None


def _shown(text: str) -> str:
    """``text`` quoted and escaped so that any string can be printed and stored."""
    return escape_text(repr(text[:80]))


def escape_text(text: str) -> str:
    """``text`` with anything that is not encodable UTF-8 written as a backslash escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
    event_id = str(_attribute(cloud_event, "id") or "")
    with logs.run_context(target=target, event_id=event_id):
        try:
            project = config.project(config.process_environment())
            trace = logs.trace_from_traceparent(_attribute(cloud_event, "traceparent"), project)
            with logs.run_context(trace=trace):
                handler(pubsub_message(getattr(cloud_event, "data", None), event_id))
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


def trigger_run_id(message: PubSubMessage, now: datetime) -> str:
    """``<publish time>-<8 hex digits of the message id's SHA-256>``: the same for a redelivery.

    Every scheduled backup names its run this way, so a scheduler message
    delivered twice finds its own run (started or committed) and does not
    start a second one.
    """
    from shared.manifest import new_run_id

    when = now
    if message.publish_time:
        try:
            when = datetime.fromisoformat(message.publish_time.replace("Z", "+00:00"))
        except ValueError:
            log.warning("unreadable publish time %r; using the current time", message.publish_time)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    token = hashlib.sha256(message.message_id.encode()).hexdigest()[:8]
    return new_run_id(when, token)


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
