"""Cloud Storage as a backup target and a restore target (:mod:`shared.target`).

A backup lists every source bucket and fans out in shards
(:mod:`shared.gcs.lister`); the last shard's completion ends the run through
:func:`shared.backup_end.end_backup`, whose retention sweeps the copies no
kept snapshot references (:func:`shared.gcs.sweep.run_end`).

Bucket restores are server-side copies, run here to the end (synchronously).
The production rule is :func:`shared.gcs.bucket_restore.production_name`,
asked here by the dispatcher and again by the library.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from shared import clients, config
from shared.errors import DRError
from shared.gcs.request import GcsRestoreRequest
from shared.gcs.run import TARGET
from shared.target import Progress, RestoreOutcome

if TYPE_CHECKING:
    from shared.backup_end import RunEnd
    from shared.gcs.context import GcsContext
    from shared.gcs.listing import ShardSink
    from shared.manifest import Manifest, RunLocation


class GcsBackupTarget:
    """A backup of every configured source bucket, with the context's settings and clients.

    ``sink`` builds where shards go (Pub/Sub in the function, threads in
    process); it is called only when a run starts, so a plan needs no
    publisher.
    """

    name = TARGET

    def __init__(self, ctx: GcsContext, sink: Callable[[], ShardSink]) -> None:
        self.ctx = ctx
        self._sink = sink

    def plan(self, tier: str) -> list[str]:
        """Per source bucket: its objects and bytes, and how many a run would copy now."""
        from shared.gcs import lister
        from shared.notify.message import human_size

        return [
            f"gs://{bucket}: {c['objects']:,} objects ({human_size(c['bytes'])}), "
            f"{c['to_copy']:,} to copy ({human_size(c['bytes_to_copy'])})"
            for bucket, c in lister.plan(self.ctx).items()
        ]

    def start(self, location: RunLocation) -> Manifest | None:
        """List and fan out; ``None`` while shards run (the last one ends the run)."""
        from shared.gcs import lister

        return lister.start_backup(
            self.ctx, tier=location.tier, sink=self._sink(), run_id=location.run_id
        )

    def run_end(self) -> RunEnd:
        from shared.gcs.sweep import run_end

        return run_end(self.ctx)


class GcsRestoreTarget:
    def __init__(self) -> None:
        self.settings = config.gcs_settings(config.sources(secrets=clients.secret_access()))

    def resolve(self, request: GcsRestoreRequest) -> str:
        from shared.gcs.bucket_restore import resolve_snapshot
        from shared.gcs.context import GcsContext

        with GcsContext(self.settings) as ctx:
            manifest, _ = resolve_snapshot(ctx, request.source_bucket, request.version_date)
        return f"gs://{self.settings.backup_bucket}/{manifest.location.manifest_path}"

    def production_name(self, request: GcsRestoreRequest) -> str | None:
        from shared.gcs.bucket_restore import production_name

        return production_name(request, self.settings.source_buckets, self._holds_objects)

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
        from shared.gcs.bucket_restore import restore_bucket

        return restore_bucket(self.settings, request, progress=progress)
