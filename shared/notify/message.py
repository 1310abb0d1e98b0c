"""What a notification says: one :class:`RunReport` per run, rendered the same on every channel.

The channel modules (email, Slack, Teams, generic JSON) only lay out what
this module decides: the subject line, the ordered facts, the error text.
So an operator reading a Slack message and an email about the same run sees
the same labels, values and units.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from shared.redact import redact
from shared.secret import Secret

PRODUCT = "EyewearML DR"

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")

Severity = Literal["ok", "info", "warning", "error"]

_SEVERITY: Mapping[str, Severity] = {
    "succeeded": "ok",
    "verified": "ok",
    "partially_failed": "warning",
    "failed": "error",
    "missed": "error",  # a freshness incident: a scheduled backup did not happen
    "recovered": "ok",
    "passed": "ok",  # a recovery drill with no findings
}


class NotifyTargets(Protocol):
    """The notification settings this package reads (``shared.config.NotifySettings``).

    A protocol rather than an import keeps notifications independent of how
    configuration is loaded, and lets tests build targets from a plain object.
    """

    @property
    def emails(self) -> tuple[str, ...]: ...
    @property
    def webhooks(self) -> tuple[Secret, ...]: ...
    @property
    def smtp_host(self) -> str: ...
    @property
    def smtp_port(self) -> int: ...
    @property
    def smtp_username(self) -> str | None: ...
    @property
    def smtp_password(self) -> Secret | None: ...
    @property
    def smtp_sender(self) -> str: ...
    @property
    def smtp_starttls(self) -> bool: ...
    @property
    def timeout_seconds(self) -> float: ...
    @property
    def webhook_format(self) -> str: ...


@dataclass(frozen=True)
class RunReport:
    """The outcome of one backup, restore or verification run.

    ``started`` and ``finished`` must be timezone-aware (UTC by convention):
    a naive time in a notification is ambiguous across the operators' zones.
    ``error`` and ``details`` are free text and may quote a driver's message,
    so they are redacted (:meth:`redacted`) before any channel renders them.
    """

    target: str
    operation: str
    status: str
    run_id: str
    started: datetime
    finished: datetime
    size_bytes: int | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    manifest_path: str | None = None
    error: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.started.tzinfo is None or self.finished.tzinfo is None:
            raise ValueError(f"run {self.run_id}: started/finished must be timezone-aware")

    @property
    def duration(self) -> timedelta:
        return self.finished - self.started

    @property
    def severity(self) -> Severity:
        return _SEVERITY.get(self.status, "info")

    @property
    def subject(self) -> str:
        status = self.status.replace("_", " ").upper()
        line = f"[{PRODUCT}] {self.target} {self.operation} {status} (run {self.run_id})"
        return " ".join(line.split())  # one header line, whatever the fields held

    def redacted(self, secrets: Iterable[str | Secret] = ()) -> RunReport:
        """A copy whose free text has passed through :func:`shared.redact.redact`."""
        secrets = tuple(secrets)
        return replace(
            self,
            error=None if self.error is None else redact(self.error, secrets),
            manifest_path=(
                None if self.manifest_path is None else redact(self.manifest_path, secrets)
            ),
            details={key: redact(value, secrets) for key, value in self.details.items()},
        )

    def facts(self) -> list[tuple[str, str]]:
        """The labelled values every channel shows, in display order; absent ones are left out."""
        facts = [
            ("Target", self.target),
            ("Operation", self.operation),
            ("Status", self.status.replace("_", " ")),
            ("Run", self.run_id),
            ("Started", _timestamp(self.started)),
            ("Finished", _timestamp(self.finished)),
            ("Duration", human_duration(self.duration)),
        ]
        if self.size_bytes is not None:
            facts.append(("Size", f"{human_size(self.size_bytes)} ({self.size_bytes:,} bytes)"))
        if self.counts:
            counts = ", ".join(f"{name} {value:,}" for name, value in sorted(self.counts.items()))
            facts.append(("Counts", counts))
        if self.manifest_path:
            facts.append(("Manifest", self.manifest_path))
        facts.extend(self.details.items())
        return facts

    def text(self) -> str:
        """The plain-text body: one ``Label: value`` line per fact, then the error if any."""
        facts = self.facts()
        width = max(len(label) for label, _ in facts)
        lines = [self.subject, ""]
        lines += [f"{label + ':':<{width + 1}} {value}" for label, value in facts]
        if self.error:
            lines += ["", "Error:", self.error]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object, for generic receivers; versioned by ``schema``."""
        return {
            "schema": "eyewearml.dr.run_report.v1",
            "subject": self.subject,
            "target": self.target,
            "operation": self.operation,
            "status": self.status,
            "severity": self.severity,
            "run_id": self.run_id,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "duration_seconds": self.duration.total_seconds(),
            "size_bytes": self.size_bytes,
            "size": None if self.size_bytes is None else human_size(self.size_bytes),
            "counts": dict(self.counts),
            "manifest_path": self.manifest_path,
            "error": self.error,
            "details": dict(self.details),
        }


def human_size(size_bytes: int) -> str:
    """Binary units, one decimal: ``1.5 GiB``; bytes stay exact below 1 KiB."""
    value, exponent = float(size_bytes), 0
    while value >= 1024 and exponent < len(_UNITS) - 1:
        value, exponent = value / 1024, exponent + 1
    return f"{value:.1f} {_UNITS[exponent]}" if exponent else f"{size_bytes} B"


def human_duration(duration: timedelta) -> str:
    """``2d 03h 04m``, ``1h 02m 03s``, ``4m 05s``, ``12.3s``: the precision needed at that scale."""
    seconds = duration.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours >= 24:
        days, hours = divmod(hours, 24)
        return f"{days}d {hours:02d}h {minutes:02d}m"
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
