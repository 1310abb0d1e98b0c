"""One report per run: from a manifest (or a failure) to a notification.

Every target ends a backup run the same way, so the mapping from a
:class:`~shared.manifest.Manifest` to a :class:`~shared.notify.RunReport`
lives here once: the same labels, counts and paths whichever target sent it;
so does the mapping from a restore's terminal phase and outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from shared.config import NotifySettings
from shared.manifest import Manifest
from shared.notify import DeliveryResult, Notifier, RunReport
from shared.secret import Secret
from shared.target import RestoreOutcome

log = logging.getLogger(__name__)


class ReportSink(Protocol):
    """Where a run's report goes (:class:`shared.notify.Notifier`); must not raise."""

    def send(self, report: RunReport) -> list[DeliveryResult]: ...


def backup_report(
    manifest: Manifest, details: Mapping[str, str] | None = None, size_bytes: int | None = None
) -> RunReport:
    """The report of a committed backup run (succeeded or failed).

    ``size_bytes`` is the data the run holds when its artifacts are not the
    data (Cloud Storage's snapshot files index copies shared between runs);
    by default, the artifacts' size.
    """
    location = manifest.location
    return RunReport(
        target=location.target,
        operation=f"{location.tier} backup",
        status=manifest.status,
        run_id=location.run_id,
        started=manifest.started,
        finished=manifest.finished,
        size_bytes=manifest.size if size_bytes is None else size_bytes,
        counts=dict(manifest.counts),
        manifest_path=location.manifest_path,
        error=manifest.error,
        details=dict(details or {}),
    )


def failure_report(
    target: str, operation: str, run_id: str, started: datetime, finished: datetime, error: str
) -> RunReport:
    """The report of a run that failed before it could commit a manifest."""
    return RunReport(
        target=target,
        operation=operation,
        status="failed",
        run_id=run_id,
        started=started,
        finished=finished,
        error=error,
    )


def send(
    settings: NotifySettings, report: RunReport, secrets: Iterable[str | Secret] = ()
) -> list[DeliveryResult]:
    """Log the outcome, then notify every channel ``settings`` names (never raises)."""
    return deliver(report, Notifier(settings, secrets=secrets))


def deliver(report: RunReport, notifier: ReportSink) -> list[DeliveryResult]:
    """Log the outcome at INFO or ERROR, then hand the report to ``notifier``.

    The log line carries the whole report under ``report``: it is what the
    deployment's "no successful backup" alert counts, so every run's report
    goes through here, whichever notifier delivers it.
    """
    level = logging.ERROR if report.severity == "error" else logging.INFO
    log.log(
        level,
        "%s %s %s (run %s)",
        report.target,
        report.operation,
        report.status,
        report.run_id,
        extra={"fields": {"report": report.to_json()}},
    )
    return notifier.send(report)


# A restore's terminal phase as a report status (any other phase: failed).
RESTORE_STATUS = {
    "Completed": "succeeded",
    "Planned": "planned",
    "Refused": "refused",
    "PartiallyFailed": "partially_failed",
}


def restore_report(
    target: str,
    phase: str,
    exit_code: int,
    run_id: str,
    times: tuple[datetime, datetime],
    outcome: RestoreOutcome | None,
    error: str | None,
    status_record: str | None = None,
) -> RunReport:
    """The one notification of a restore that ended in ``phase`` (also the job's manual path)."""
    mode = outcome.mode if outcome else "restore"
    details = {
        "phase": phase,
        "exit code": str(exit_code),
        "destination": outcome.destination if outcome else "",
        "verified": str(outcome.verified) if outcome else "",
    }
    if status_record:
        details["status record"] = status_record
    return RunReport(
        target=target,
        operation={"test": "test restore", "plan": "restore plan"}.get(mode, "restore"),
        status=RESTORE_STATUS.get(phase, "failed"),
        run_id=run_id,
        started=times[0],
        finished=times[1],
        counts=dict(outcome.counts) if outcome else {},
        manifest_path=outcome.backup if outcome else None,
        error=error,
        details=details,
    )
