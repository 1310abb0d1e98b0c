"""MongoDB as a restore target (:class:`shared.target.RestoreTarget`).

The dispatcher runs in a function: it checks the request against the catalog,
asks which production database the request would overwrite, plans dry runs
from the manifest, and starts the restore as an execution of the MongoDB job
(:func:`shared.mongodb.executions.start_restore_execution`), which ends the
request itself through :mod:`shared.restore.lifecycle`. None of this needs
``MONGODB_URI``: the function never connects to MongoDB. A dry run planned
here lists what the backup holds; a dry run of the job (``--dry-run``) also
looks at the target server for collections that already exist.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from shared import clients, config
from shared.manifest import Manifest
from shared.mongodb import executions, plan, settings
from shared.mongodb.request import MongoRestoreRequest
from shared.settings_source import Sources
from shared.target import Progress, RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.storage import Bucket


class MongoRestoreTarget:
    def __init__(self, src: Sources | None = None, bucket: Bucket | None = None) -> None:
        src = src or config.sources()
        self._bucket = bucket or clients.storage_client().bucket(
            src.require(config.MONGODB_GCS_BUCKET)
        )
        self._prefix = config.mongodb_prefix(src)
        self._db_name = src.get(config.MONGODB_DB_NAME)
        self._src = src
        self._manifests: dict[tuple[object, ...], Manifest] = {}

    def _manifest(self, request: MongoRestoreRequest) -> Manifest:
        key = (request.day, request.tier, request.hour)
        if key not in self._manifests:
            self._manifests[key] = plan.resolve(self._bucket, self._prefix, request)
        return self._manifests[key]

    def resolve(self, mongo: MongoRestoreRequest) -> str:
        manifest = self._manifest(mongo)
        plan.database_map(manifest, mongo, "check")  # refuses target_db on a many-database backup
        return f"gs://{self._bucket.name}/{manifest.location.manifest_path}"

    def production_name(self, mongo: MongoRestoreRequest) -> str | None:
        return plan.production_name(self._manifest(mongo), self._db_name, mongo)

    def plan(self, request: MongoRestoreRequest) -> RestoreOutcome:
        mongo = dataclasses.replace(request, dry_run=True)
        manifest = self._manifest(mongo)
        db_map = plan.database_map(manifest, mongo, "<token>")
        lines = plan.plan_lines(manifest, db_map, {})
        note = "collections already in the target are checked when the restore runs"
        return plan.outcome(manifest, self._bucket, mongo, db_map, plan=lines, notes=[note])

    def start(self, request: MongoRestoreRequest, request_id: str, progress: Progress) -> None:
        job = settings.job_name(self._src)
        body = request.to_message()
        execution = executions.start_restore_execution(body, request_id, job=job)
        progress.update(execution=execution)
