"""Firestore as a backup target and a restore target (:mod:`shared.target`).

Both sides are asynchronous: :meth:`FirestoreBackupTarget.start` starts a
managed export and returns; :meth:`FirestoreRestoreTarget.start` starts an
import and returns. The completion step (:mod:`shared.firestore.completion`)
ends both. The production rule is :func:`shared.firestore.restore.production_name`.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING

from shared import clients, config
from shared.backup_end import RunEnd
from shared.clock import Clock, utc_now
from shared.config import FirestoreSettings
from shared.firestore.request import TARGET, FirestoreRestore
from shared.manifest import RunLocation, new_run_id
from shared.target import Progress, RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.firestore_admin_v1 import FirestoreAdminClient
    from google.cloud.storage import Bucket

    from shared.firestore.backup_completion import Completion
    from shared.reporting import ReportSink
    from shared.restore.status import StatusStore


def settings() -> FirestoreSettings:
    """The Firestore settings, read now (environment, config file, secrets)."""
    return config.firestore_settings(config.sources(secrets=clients.secret_access()))


class FirestoreBackupTarget:
    """Backups of the database into its bucket: a :class:`~shared.target.BackupTarget`."""

    name = TARGET

    def __init__(
        self,
        settings: FirestoreSettings,
        bucket: Bucket,
        client: FirestoreAdminClient,
        clock: Clock = utc_now,
        notifier: ReportSink | None = None,
    ) -> None:
        from shared.notify import Notifier

        self.settings, self.bucket, self.client, self.clock = settings, bucket, client, clock
        self.notifier: ReportSink = notifier or Notifier(settings.notify)

    @classmethod
    def configured(
        cls, firestore: FirestoreSettings, clock: Clock = utc_now
    ) -> FirestoreBackupTarget:
        """The target with the production clients for ``firestore``'s project and bucket."""
        bucket = clients.storage_client(firestore.project_id).bucket(firestore.bucket)
        return cls(firestore, bucket, clients.firestore_admin_client(), clock)

    @property
    def timeout(self) -> timedelta:
        """How long an export runs before it is reported (``FIRESTORE_EXPORT_TIMEOUT_MINUTES``)."""
        return timedelta(minutes=self.settings.export_timeout_minutes)

    def run_end(self) -> RunEnd:
        return RunEnd(
            bucket=self.bucket,
            target=TARGET,
            prefix="",
            retention=self.settings.retention,
            notifier=self.notifier,
            clock=self.clock,
        )

    def plan(self, tier: str) -> list[str]:
        from shared.firestore import backup

        location = RunLocation("", TARGET, tier, new_run_id(self.clock()))
        return backup.plan(
            self.settings, location, bucket=self.bucket, client=self.client, now=self.clock()
        )

    def start(self, location: RunLocation) -> None:
        """End the runs earlier triggers started, then start this one's export; returns at once.

        Completing first is the "next trigger" half of the completion design:
        even without the scheduled check, every export is ended by the
        following backup at the latest.
        """
        from shared.firestore import backup

        self.complete()
        backup.start(self.settings, location, end=self.run_end(), client=self.client)

    def complete(self) -> list[Completion]:
        """The backup completion step: end every pending export whose operation has ended."""
        from shared.firestore.backup_completion import complete_backups

        return complete_backups(self.run_end(), self.client, timeout=self.timeout)


class FirestoreRestoreTarget:
    """Imports of a backup, as :class:`shared.target.RestoreTarget`; built at call time."""

    def __init__(self, store: StatusStore, clock: Clock = utc_now) -> None:
        self.settings = settings()
        self.bucket: Bucket = clients.storage_client(self.settings.project_id).bucket(
            self.settings.bucket
        )
        self.client = clients.firestore_admin_client()
        self.store = store
        self.clock = clock

    def resolve(self, request: FirestoreRestore) -> str:
        from shared.firestore.restore import resolve

        entry, _ = resolve(self.bucket, request.day, request.tier)
        return f"gs://{self.bucket.name}/{entry.location.manifest_path}"

    def production_name(self, request: FirestoreRestore) -> str | None:
        from shared.firestore.restore import production_name

        return production_name(request, self.settings)

    def plan(self, request: FirestoreRestore) -> RestoreOutcome:
        outcome = self._start(dataclasses.replace(request, dry_run=True), "plan")
        if outcome is None:  # a dry run never starts anything
            raise AssertionError("a Firestore dry run started an import")
        return outcome

    def start(
        self, request: FirestoreRestore, request_id: str, progress: Progress
    ) -> RestoreOutcome | None:
        return self._start(request, request_id)

    def _start(self, request: FirestoreRestore, request_id: str) -> RestoreOutcome | None:
        from shared.firestore.restore import start_restore

        result = start_restore(
            request,
            settings=self.settings,
            store=self.store,
            request_id=request_id,
            bucket=self.bucket,
            client=self.client,
            now=self.clock(),
        )
        return result if isinstance(result, RestoreOutcome) else None
