"""What each Firestore function does, as one call: the backup trigger and the completion check.

The backup trigger first finishes what earlier runs started (the "next
trigger" half of the completion design: even without the scheduled check,
every export is finalized by the following backup at the latest), then
starts today's export and returns without waiting, then applies retention.
The completion check finishes exports and carries restore imports on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.config import FirestoreSettings
from shared.firestore.complete import Completion, complete_exports
from shared.firestore.export import StartedExport, apply_retention, start_export
from shared.firestore.finish_restore import complete_restores

if TYPE_CHECKING:
    from google.cloud.firestore_admin_v1 import FirestoreAdminClient
    from google.cloud.storage import Bucket

    from shared.prune import PruneDecision
    from shared.restore.status import StatusStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupRun:
    completed: list[Completion]
    started: StartedExport
    retention: list[PruneDecision]


@dataclass(frozen=True)
class CompletionRun:
    exports: list[Completion]
    restores: list[Completion]


def run_backup(
    settings: FirestoreSettings,
    tier: str,
    *,
    bucket: Bucket,
    client: FirestoreAdminClient,
    now: datetime,
    dry_run: bool = False,
    run_id: str | None = None,
) -> BackupRun:
    """Complete pending exports, start a new one (returns without waiting), prune old runs.

    ``run_id`` names the new run (see :func:`shared.firestore.export.start_export`).
    """
    completed = (
        []
        if dry_run
        else complete_exports(
            settings, bucket=bucket, client=client, now=now, timeout=_timeout(settings)
        )
    )
    started = start_export(
        settings, tier, bucket=bucket, client=client, now=now, dry_run=dry_run, run_id=run_id
    )
    retention = apply_retention(settings, tier, bucket=bucket, now=now, dry_run=dry_run)
    return BackupRun(completed, started, retention)


def run_completion(
    settings: FirestoreSettings,
    *,
    bucket: Bucket,
    store: StatusStore | None,
    client: FirestoreAdminClient,
    now: datetime,
) -> CompletionRun:
    """Finish ended exports; advance restore imports when a state bucket is configured."""
    exports = complete_exports(
        settings, bucket=bucket, client=client, now=now, timeout=_timeout(settings)
    )
    if store is None:
        log.warning("DR_STATE_BUCKET is not set: Firestore restore imports are not checked")
        return CompletionRun(exports, [])
    restores = complete_restores(
        settings, store=store, client=client, now=now, timeout=_timeout(settings)
    )
    return CompletionRun(exports, restores)


def _timeout(settings: FirestoreSettings) -> timedelta:
    return timedelta(minutes=settings.export_timeout_minutes)
