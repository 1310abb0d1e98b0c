"""Structured logging: one JSON object per line, in Cloud Logging's format.

Cloud Functions and Cloud Run turn a JSON line on stdout/stderr into a log
entry: ``severity`` sets the level, ``message`` the summary, and the special
``logging.googleapis.com/labels`` and ``.../trace`` keys become the entry's
labels and trace. Every line a run writes carries the run id and target as
labels, so "all logs of run X" is one filter in the console. Messages pass
through :func:`shared.redact.redact`, so a URI password in an exception never
reaches the log. :func:`configure` is the one place that sets this up.

A person running a job by hand on a terminal gets the same facts as readable
lines instead (``09:12:03 INFO  dumped eyewear_ml.people  run_id=... documents=1000``):
:func:`configure` picks the form from the stream (a terminal or not), and
``DR_LOG_FORMAT=json`` or ``text`` (or the ``human`` argument) overrides that.
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

from shared import config
from shared.errors import ConfigError
from shared.redact import redact

_LABELS: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "dr_labels", default=None
)
_TRACE: contextvars.ContextVar[str | None] = contextvars.ContextVar("dr_trace", default=None)
_SOURCE = "logging.googleapis.com/sourceLocation"
_LABELS_KEY = "logging.googleapis.com/labels"
_TRACE_KEY = "logging.googleapis.com/trace"
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
        return json.dumps(self.entry(record), default=str, ensure_ascii=False)

    def entry(self, record: logging.LogRecord) -> dict[str, Any]:
        """Every fact of ``record``, as the Cloud Logging entry's JSON payload."""
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": redact(message),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
            _SOURCE: {
                "file": record.pathname,
                "line": record.lineno,
                "function": record.funcName,
            },
        }
        labels = dict(_LABELS.get() or {})
        if labels:
            entry[_LABELS_KEY] = labels
        trace = _TRACE.get()
        if trace:
            entry[_TRACE_KEY] = trace
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            for key, value in fields.items():
                entry.setdefault(str(key), _redacted(value))
        return entry


class HumanFormatter(CloudLoggingFormatter):
    """The same entry as one readable line: time, severity, message, labels and fields."""

    SKIPPED = frozenset({"severity", "message", "time", "logger", _SOURCE, _LABELS_KEY, _TRACE_KEY})

    def format(self, record: logging.LogRecord) -> str:
        entry = self.entry(record)
        facts = {**entry.get(_LABELS_KEY, {}), **{
            key: value for key, value in entry.items() if key not in self.SKIPPED
        }}  # fmt: skip
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        extra = "  ".join(f"{key}={_text(value)}" for key, value in facts.items())
        line = f"{when} {entry['severity']:<7} {entry['message']}"
        return f"{line}  {extra}" if extra else line


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def configure(
    level: int = logging.INFO, stream: TextIO | None = None, human: bool | None = None
) -> None:
    """Route the root logger to one handler (idempotent: re-running replaces it).

    JSON lines, or readable lines when ``human`` (default: ``DR_LOG_FORMAT``,
    else whether the stream is a terminal). A wrong ``DR_LOG_FORMAT`` is
    reported as the first log line rather than raised: the run it would stop
    is more important than the form of its lines.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_dr_json", False):
            root.removeHandler(handler)
    stream = stream or sys.stdout
    problem: ConfigError | None = None
    if human is None:
        try:
            chosen = config.log_format(config.process_environment())
        except ConfigError as exc:
            chosen, problem = None, exc
        human = chosen == "text" or (chosen is None and stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(HumanFormatter() if human else CloudLoggingFormatter())
    handler._dr_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Client libraries are chatty at INFO about retries we already report.
    for noisy in ("urllib3", "google.auth", "google.api_core", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if problem is not None:
        logging.getLogger(__name__).warning("%s; the stream decides the log format", problem)


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
