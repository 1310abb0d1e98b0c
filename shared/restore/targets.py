"""The three targets as the dispatcher sees them: check, name production, plan, start.

Each adapter loads its target's settings when it is built (at call time, in
the function that handles the request) and delegates to the target's own
restore library, which enforces the same safety rules again: the dispatcher
is a convenience in front of the libraries, not their only guard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared import clients, config
from shared.errors import DRError
from shared.restore.schema import RestoreRequest
from shared.restoring import Progress, RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

    from shared.restore.dispatch import TargetRestore
    from shared.restore.status import StatusStore

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FirestoreTarget:
    """Imports run asynchronously; the completion step ends them (see :mod:`shared.firestore`)."""

    def __init__(self, store: StatusStore, clock: Clock = _utc_now) -> None:
        self.settings = config.firestore_settings(config.sources(secrets=clients.secret_access()))
        self.bucket: Bucket = clients.storage_client(self.settings.project_id).bucket(
            self.settings.bucket
        )
        self.client = clients.firestore_admin_client()
        self.store = store
        self.clock = clock

    def check(self, request: RestoreRequest) -> str:
        from shared.firestore.restore import resolve

        entry, _ = resolve(self.bucket, request.day, request.get("type"))
        return f"gs://{self.bucket.name}/{entry.location.manifest_path}"

    def production_name(self, request: RestoreRequest) -> str | None:
        if request.test_mode:
            return None
        project = request.get("target_project", self.settings.project_id)
        database = request.get("target_database", self.settings.database)
        if project == self.settings.project_id and database == self.settings.database:
            return self.settings.project_id
        return f"{project}/{database}" if self._holds_documents(project, database) else None

    @staticmethod
    def _holds_documents(project: str, database: str) -> bool:
        """Whether the destination database exists and has a collection (then it needs confirm)."""
        from google.api_core import exceptions

        from shared.firestore.verify import data_client

        try:
            return any(True for _ in data_client(project, database).collections())
        except exceptions.NotFound:
            return False

    def plan(self, request: RestoreRequest) -> RestoreOutcome:
        outcome = self._start(request, {**request.fields, "dry_run": True}, "plan")
        if outcome is None:  # a dry run never starts anything
            raise AssertionError("a Firestore dry run started an import")
        return outcome

    def start(
        self, request: RestoreRequest, request_id: str, progress: Progress
    ) -> RestoreOutcome | None:
        return self._start(request, dict(request.fields), request_id)

    def _start(
        self, request: RestoreRequest, fields: Mapping[str, object], request_id: str
    ) -> RestoreOutcome | None:
        from shared.firestore.restore import start_restore

        result = start_restore(
            fields,
            settings=self.settings,
            store=self.store,
            request_id=request_id,
            bucket=self.bucket,
            client=self.client,
            now=self.clock(),
        )
        return result if isinstance(result, RestoreOutcome) else None


class GcsTarget:
    """Bucket restores are server-side copies, run here to the end (synchronously)."""

    def __init__(self) -> None:
        self.settings = config.gcs_settings(config.sources(secrets=clients.secret_access()))

    def check(self, request: RestoreRequest) -> str:
        from shared.dates import parse_version_date
        from shared.gcs.context import GcsContext
        from shared.gcs.restore import find_snapshot

        with GcsContext(self.settings) as ctx:
            manifest, _ = find_snapshot(
                ctx, request.get("source_bucket"), parse_version_date(request.get("version_date"))
            )
        return f"gs://{self.settings.backup_bucket}/{manifest.location.manifest_path}"

    def production_name(self, request: RestoreRequest) -> str | None:
        if request.test_mode:
            return None
        source = request.get("source_bucket")
        destination = str(request.get("target_bucket") or source)
        if destination in (source, *self.settings.source_buckets):
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

    def plan(self, request: RestoreRequest) -> RestoreOutcome:
        return self._restore(request, dry_run=True)

    def start(
        self, request: RestoreRequest, request_id: str, progress: Progress
    ) -> RestoreOutcome | None:
        return self._restore(request, dry_run=False, progress=progress)

    def _restore(
        self, request: RestoreRequest, dry_run: bool, progress: Progress | None = None
    ) -> RestoreOutcome:
        from shared.gcs.restore import restore_bucket

        return restore_bucket(
            self.settings,
            source_bucket=request.get("source_bucket"),
            version_date=request.get("version_date"),
            target_bucket=request.get("target_bucket"),
            test_mode=request.test_mode,
            dry_run=dry_run,
            delete_extra=bool(request.get("delete_extra", False)),
            confirm=request.get("confirm"),
            progress=progress,
        )


def _mongodb() -> TargetRestore:
    from shared.mongodb.target import MongoRestoreTarget

    return MongoRestoreTarget(config.sources(secrets=clients.secret_access()))


def registry(
    store: StatusStore, clock: Clock = _utc_now
) -> Mapping[str, Callable[[], TargetRestore]]:
    """Adapter factories by target name; each is built only when a request needs it."""
    return {
        "firestore": lambda: FirestoreTarget(store, clock),
        "gcs": GcsTarget,
        "mongodb": _mongodb,
    }
