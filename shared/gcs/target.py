"""Cloud Storage as a restore target (:class:`shared.target.RestoreTarget`).

Bucket restores are server-side copies, run here to the end (synchronously).
The production rule lives in :meth:`GcsRestoreTarget.production_name`; the
library (:func:`shared.gcs.restore.restore_bucket`) enforces it again.
"""

from __future__ import annotations

import dataclasses

from shared import clients, config
from shared.errors import DRError
from shared.gcs.request import GcsRestoreRequest
from shared.target import Progress, RestoreOutcome


class GcsRestoreTarget:
    def __init__(self) -> None:
        self.settings = config.gcs_settings(config.sources(secrets=clients.secret_access()))

    def resolve(self, request: GcsRestoreRequest) -> str:
        from shared.gcs.context import GcsContext
        from shared.gcs.restore import find_snapshot

        with GcsContext(self.settings) as ctx:
            manifest, _ = find_snapshot(ctx, request.source_bucket, request.version_date)
        return f"gs://{self.settings.backup_bucket}/{manifest.location.manifest_path}"

    def production_name(self, request: GcsRestoreRequest) -> str | None:
        if request.test_mode:
            return None
        destination = request.destination
        if destination in (request.source_bucket, *self.settings.source_buckets):
            return destination
        return destination if self._holds_objects(destination) else None

    def _holds_objects(self, bucket: str) -> bool:
        """Whether ``bucket`` exists with at least one object (then it needs ``confirm``)."""
        from google.api_core import exceptions

        from shared import storage

        client = clients.storage_client(self.settings.project_id)
        try:
            with storage.translate_errors(f"listing gs://{bucket}"):
                return any(client.list_blobs(bucket, max_results=1))
        except DRError as exc:
            if isinstance(exc.__cause__, exceptions.NotFound):
                return False
            raise

    def plan(self, request: GcsRestoreRequest) -> RestoreOutcome:
        return self._restore(dataclasses.replace(request, dry_run=True))

    def start(
        self, request: GcsRestoreRequest, request_id: str, progress: Progress
    ) -> RestoreOutcome | None:
        return self._restore(request, progress)

    def _restore(
        self, request: GcsRestoreRequest, progress: Progress | None = None
    ) -> RestoreOutcome:
        from shared.gcs.restore import restore_bucket

        return restore_bucket(
            self.settings,
            source_bucket=request.source_bucket,
            version_date=request.version_date,
            target_bucket=request.target_bucket,
            test_mode=request.test_mode,
            dry_run=request.dry_run,
            delete_extra=request.delete_extra,
            confirm=request.confirm,
            progress=progress,
        )
