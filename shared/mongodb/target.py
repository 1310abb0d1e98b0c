"""MongoDB as a backup target and as a restore target (:mod:`shared.target`).

Both run in the functions, which never connect to MongoDB and never hold
``MONGODB_URI`` (:class:`shared.config.MongoFunctionSettings`): the work runs
as an execution of the MongoDB Cloud Run job, because a dump or a restore
outlasts a function's time limit.

* Backup: :meth:`MongoBackupTarget.start` starts a job execution and returns
  ``None``; the job is the completion step: it dumps and ends the run through
  :func:`shared.backup_end.end_backup` (:func:`shared.mongodb.backup.run_backup`).
  :meth:`MongoBackupTarget.plan` starts a dry-run execution, whose log lists
  what would be dumped (only the job can look at the server).
* Restore: the dispatcher checks the request against the catalog, asks which
  production database it would overwrite (:func:`shared.mongodb.plan.production_name`,
  the one rule the job's restore applies too), plans dry runs from the
  manifest, and starts the restore as a job execution, which ends the request
  itself through :mod:`shared.restore.lifecycle`. A dry run planned here
  lists what the backup holds; a dry run of the job (``--dry-run``) also looks
  at the target server for collections that already exist.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from shared import clients, config
from shared.clock import Clock, utc_now
from shared.mongodb import executions, plan
from shared.mongodb.request import TARGET, MongoRestoreRequest
from shared.secret import Secret
from shared.target import Progress, RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

    from shared.backup_end import RunEnd
    from shared.manifest import Manifest, RunLocation

log = logging.getLogger(__name__)


def run_end(
    settings: config.MongoSettings | config.MongoFunctionSettings,
    bucket: Bucket,
    clock: Clock,
    secrets: Iterable[str | Secret] = (),
) -> RunEnd:
    """How MongoDB runs end; ``secrets`` (the job's URI) are redacted from every report."""
    from shared.backup_end import RunEnd
    from shared.notify import Notifier

    notifier = Notifier(settings.notify, secrets=secrets)
    return RunEnd(bucket, TARGET, settings.prefix, settings.retention, notifier, clock)


def _function_settings() -> config.MongoFunctionSettings:
    return config.mongodb_function_settings(config.sources(secrets=clients.secret_access()))


class MongoBackupTarget:
    """MongoDB backups as the trigger function drives them (:class:`shared.target.BackupTarget`)."""

    name = TARGET

    def __init__(
        self, settings: config.MongoFunctionSettings | None = None, clock: Clock = utc_now
    ) -> None:
        self.settings = settings or _function_settings()
        self.clock = clock

    def plan(self, tier: str) -> list[str]:
        execution = executions.start_backup_execution(
            self.settings.job, tier, f"plan-{tier}", dry_run=True
        )
        return [
            f"a dry run of the {tier} backup runs as {execution}; its log lists what it would dump"
        ]

    def start(self, location: RunLocation) -> Manifest | None:
        tier, run_id = location.tier, location.run_id
        execution = executions.start_backup_execution(self.settings.job, tier, run_id)
        fields = {"tier": tier, "run_id": run_id, "execution": execution}
        log.info(
            "started %s backup run %s as %s", tier, run_id, execution, extra={"fields": fields}
        )
        return None

    def run_end(self) -> RunEnd:
        bucket = clients.storage_client().bucket(self.settings.bucket)
        return run_end(self.settings, bucket, self.clock)


class MongoRestoreTarget:
    """MongoDB restores as the dispatcher drives them (:class:`shared.target.RestoreTarget`)."""

    def __init__(
        self, settings: config.MongoFunctionSettings | None = None, bucket: Bucket | None = None
    ) -> None:
        self.settings = settings or _function_settings()
        self._bucket = bucket or clients.storage_client().bucket(self.settings.bucket)
        self._manifests: dict[tuple[object, ...], Manifest] = {}

    def _manifest(self, request: MongoRestoreRequest) -> Manifest:
        key = (request.day, request.tier, request.hour)
        if key not in self._manifests:
            self._manifests[key] = plan.resolve(self._bucket, self.settings.prefix, request)
        return self._manifests[key]

    def resolve(self, mongo: MongoRestoreRequest) -> str:
        manifest = self._manifest(mongo)
        plan.database_map(manifest, mongo, "check")  # refuses target_db on a many-database backup
        return f"gs://{self._bucket.name}/{manifest.location.manifest_path}"

    def production_name(self, mongo: MongoRestoreRequest) -> str | None:
        return plan.production_name(self._manifest(mongo), self.settings.db_name, mongo)

    def plan(self, request: MongoRestoreRequest) -> RestoreOutcome:
        mongo = dataclasses.replace(request, dry_run=True)
        manifest = self._manifest(mongo)
        db_map = plan.database_map(manifest, mongo, "<token>")
        lines = plan.plan_lines(manifest, db_map, {})
        note = "collections already in the target are checked when the restore runs"
        return plan.outcome(manifest, self._bucket, mongo, db_map, plan=lines, notes=[note])

    def start(self, request: MongoRestoreRequest, request_id: str, progress: Progress) -> None:
        execution = executions.start_restore_execution(self.settings.job, request, request_id)
        progress.update(execution=execution)
