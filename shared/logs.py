"""Structured logging: one JSON object per line, in Cloud Logging's format.

Cloud Functions and Cloud Run turn a JSON line on stdout/stderr into a log
entry: ``severity`` sets the level, ``message`` the summary, and the special
``logging.googleapis.com/labels`` and ``.../trace`` keys become the entry's
labels and trace. Every line a run writes carries the run id and target as
labels, so "all logs of run X" is one filter in the console. Messages pass
through :func:`shared.redact.redact`, so a URI password in an exception never
reaches the log. :func:`configure` is the one place that sets this up.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from shared.redact import redact

_LABELS: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "dr_labels", default=None
)
_TRACE: contextvars.ContextVar[str | None] = contextvars.ContextVar("dr_trace", default=None)
_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


class CloudLoggingFormatter(logging.Formatter):
    """Formats a record as a Cloud Logging structured JSON line.

    Extra fields are passed as ``log.info("...", extra={"fields": {...}})``
    and land in the entry's ``jsonPayload``.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": redact(message),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname,
                "line": record.lineno,
                "function": record.funcName,
            },
        }
        labels = dict(_LABELS.get() or {})
        if labels:
            entry["logging.googleapis.com/labels"] = labels
        trace = _TRACE.get()
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            for key, value in fields.items():
                entry.setdefault(str(key), _redacted(value))
        return json.dumps(entry, default=str, ensure_ascii=False)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def configure(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Route the root logger to one JSON handler (idempotent: re-running replaces it)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_dr_json", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    handler._dr_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Client libraries are chatty at INFO about retries we already report.
    for noisy in ("urllib3", "google.auth", "google.api_core", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def run_context(trace: str | None = None, **labels: str) -> Iterator[None]:
    """Label every log line inside the block (``run_id=..., target=...``)."""
    label_token = _LABELS.set({**(_LABELS.get() or {}), **labels})
    trace_token = _TRACE.set(trace) if trace is not None else None
    try:
        yield
    finally:
        _LABELS.reset(label_token)
        if trace_token is not None:
            _TRACE.reset(trace_token)


def trace_from_traceparent(traceparent: str | None, project: str | None) -> str | None:
    """``projects/P/traces/T`` from a W3C ``traceparent`` (CloudEvents carry one), if any."""
    if not traceparent or not project:
        return None
    parts = traceparent.split("-")
    if len(parts) < 3 or len(parts[1]) != 32:
        return None
    return f"projects/{project}/traces/{parts[1]}"
