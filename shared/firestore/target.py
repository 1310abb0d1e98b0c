"""Firestore as a restore target (:class:`shared.target.RestoreTarget`).

Imports run asynchronously: :meth:`FirestoreRestoreTarget.start` starts one
and returns; the completion step ends it. The production rule lives in
:meth:`FirestoreRestoreTarget.production_name`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from shared import clients, config
from shared.clock import Clock, utc_now
from shared.firestore.request import FirestoreRestore
from shared.target import Progress, RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

    from shared.restore.status import StatusStore


class FirestoreRestoreTarget:
    def __init__(self, store: StatusStore, clock: Clock = utc_now) -> None:
        self.settings = config.firestore_settings(config.sources(secrets=clients.secret_access()))
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
        if request.test_mode:
            return None
        project = request.target_project or self.settings.project_id
        database = request.target_database or self.settings.database
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
