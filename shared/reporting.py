"""One report per run: from a manifest (or a failure) to a notification.

Every target ends a backup run the same way, so the mapping from a
:class:`~shared.manifest.Manifest` to a :class:`~shared.notify.RunReport`
lives here once: the same labels, counts and paths whichever target sent it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from shared.config import NotifySettings
from shared.manifest import Manifest
from shared.notify import DeliveryResult, Notifier, RunReport
from shared.secret import Secret

log = logging.getLogger(__name__)


def backup_report(manifest: Manifest, details: Mapping[str, str] | None = None) -> RunReport:
    """The report of a committed backup run (succeeded or failed)."""
    location = manifest.location
    return RunReport(
        target=location.target,
        operation=f"{location.tier} backup",
        status=manifest.status,
        run_id=location.run_id,
        started=manifest.started,
        finished=manifest.finished,
        size_bytes=manifest.size,
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
    """Log the outcome at INFO or ERROR, then notify every channel (never raises)."""
    level = logging.ERROR if report.status == "failed" else logging.INFO
    log.log(
        level,
        "%s %s %s (run %s)",
        report.target,
        report.operation,
        report.status,
        report.run_id,
        extra={"fields": {"report": report.to_json()}},
    )
    return Notifier(settings, secrets=secrets).send(report)
