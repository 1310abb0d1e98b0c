"""From Pub/Sub push bodies (real files under tests/data/events) to requests, and the handler contract."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from shared.errors import BackupNotFound, RequestError
from shared.events import PubSubMessage, backup_trigger, pubsub_message, serve

EVENTS = Path(__file__).parent / "data" / "events"


def event(name: str) -> CloudEvent:
    attributes = {
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/demo-eyewearml/topics/dr-restore",
        "id": "evt-1",
    }
    return CloudEvent(attributes, json.loads((EVENTS / name).read_text()))


def test_a_scheduler_message_becomes_a_trigger() -> None:
    message = pubsub_message(event("scheduler_daily_push.json").data)
    assert message.message_id == "1001"
    assert backup_trigger(message, ("daily", "weekly")).tier == "daily"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"tier": "yearly"}', "tier 'yearly' is not one of daily, weekly"),
        (b'{"tier": "daily", "when": "now"}', "unknown field.*when"),
        (b'{"dry_run": "yes"}', "dry_run must be true or false"),
        (b"[1, 2]", "must be a JSON object, not list"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"tier": ', "not valid JSON: Expecting value at line 1 column 10"),
    ],
)
def test_bad_scheduler_messages_say_what_is_wrong(body: bytes, expected: str) -> None:
    with pytest.raises(RequestError, match=expected):
        backup_trigger(PubSubMessage(body, "m"), ("daily", "weekly"))


def test_an_empty_body_means_the_defaults() -> None:
    assert backup_trigger(PubSubMessage(b"", "m"), ("daily",)).tier == "daily"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, "not a Pub/Sub message"),
        ({"message": "x"}, "not a Pub/Sub message"),
        (json.loads((EVENTS / "bad_base64_push.json").read_text()), "not valid base64"),
    ],
)
def test_events_that_are_not_pubsub_messages(data: Any, expected: str) -> None:
    with pytest.raises(RequestError, match=expected):
        pubsub_message(data)


def test_serve_acknowledges_our_errors_and_logs_them_at_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(message: PubSubMessage) -> None:
        raise BackupNotFound("no complete mongodb daily backup for 2025-03-26")

    with caplog.at_level(logging.ERROR):
        serve(event("scheduler_daily_push.json"), "mongodb", handler)  # does not raise
    assert "BackupNotFound: no complete mongodb daily backup for 2025-03-26" in caplog.text


def test_serve_acknowledges_a_malformed_body_naming_the_json_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(message: PubSubMessage) -> None:
        message.json()

    with caplog.at_level(logging.ERROR):
        serve(event("malformed_json_push.json"), "restore", handler)
    assert "message body is not valid JSON" in caplog.text


def test_serve_lets_crashes_propagate_so_pubsub_redelivers() -> None:
    def handler(message: PubSubMessage) -> None:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        serve(event("scheduler_daily_push.json"), "gcs", handler)


def test_serve_lets_retryable_errors_propagate_so_pubsub_retries_later() -> None:
    from shared.errors import SourceUnavailable

    def handler(message: PubSubMessage) -> None:
        raise SourceUnavailable("Cloud Storage unreachable")

    with pytest.raises(SourceUnavailable):
        serve(event("scheduler_daily_push.json"), "gcs", handler)


def test_serve_names_a_malformed_project_setting_and_acknowledges(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    called: list[PubSubMessage] = []
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "Not_A_Project")
    with caplog.at_level(logging.ERROR):
        serve(event("scheduler_daily_push.json"), "gcs", called.append)  # does not raise
    assert called == []
    assert "ConfigError: GOOGLE_CLOUD_PROJECT from environment variable is 'Not_A_Project'" in (
        caplog.text
    )
