"""Structured logging: one JSON object per line, in Cloud Logging's format, secrets redacted."""

from __future__ import annotations

import io
import json
import logging

from shared import logs


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_cloud_logging_json_line_with_run_labels_and_trace() -> None:
    stream = io.StringIO()
    logs.configure(stream=stream)
    trace = logs.trace_from_traceparent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "eyewearml-project"
    )
    with logs.run_context(trace=trace, run_id="20250325T010000Z-0123abcd", target="mongodb"):
        logging.getLogger("shared.test").warning(
            "dumped %d collections", 3, extra={"fields": {"collections": 3}}
        )
    logging.getLogger("shared.test").info("outside any run")
    first, second = lines(stream)
    assert first["severity"] == "WARNING"
    assert first["message"] == "dumped 3 collections"
    assert first["logging.googleapis.com/labels"] == {
        "run_id": "20250325T010000Z-0123abcd",
        "target": "mongodb",
    }
    assert first["logging.googleapis.com/trace"] == (
        "projects/eyewearml-project/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    )
    assert first["collections"] == 3
    assert "logging.googleapis.com/labels" not in second
    assert second["severity"] == "INFO"


def test_messages_fields_and_tracebacks_are_redacted() -> None:
    stream = io.StringIO()
    logs.configure(stream=stream)
    uri = "mongodb+srv://backup:hunter2-secret@cluster0.example.net/eyewear_ml"
    log = logging.getLogger("shared.test")
    try:
        raise ConnectionError(f"cannot reach {uri}")
    except ConnectionError:
        log.exception("backup failed", extra={"fields": {"source": {"uri": uri}}})
    text = stream.getvalue()
    assert "hunter2-secret" not in text
    (entry,) = lines(stream)
    assert entry["severity"] == "ERROR"
    assert "backup:***@cluster0.example.net" in str(entry["message"])
    assert "ConnectionError" in str(entry["message"])


def test_configure_is_idempotent() -> None:
    stream = io.StringIO()
    logs.configure(stream=io.StringIO())
    logs.configure(stream=stream)
    logging.getLogger("shared.test").info("once")
    assert len(lines(stream)) == 1


def test_a_malformed_traceparent_gives_no_trace() -> None:
    assert logs.trace_from_traceparent("garbage", "p") is None
    assert logs.trace_from_traceparent(None, "p") is None
    assert (
        logs.trace_from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None)
        is None
    )
