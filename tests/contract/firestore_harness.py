"""The contract harness of Firestore: its two functions' handlers and the Admin API stand-in.

A backup message starts a managed export; the completion handler (which Cloud
Scheduler calls every few minutes) ends it once the export is done. A
restore starts an import from the dispatcher and the same completion handler
carries it to its end, so the harness calls it while it waits.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from shared import clients
from shared.events import PubSubMessage, trigger_run_id
from shared.firestore import handlers
from shared.registry import registry
from tests import firestoredata
from tests.conftest import patched_environ
from tests.contract.harness import Common, Restores, catalog, scheduler_message
from tests.devstack.storage import unique_bucket_name
from tests.firestorestack import data_client, seed
from tests.polling import wait_until


def complete() -> None:
    """One tick of the ``dr-firestore-complete`` scheduler job."""
    handlers.on_complete_message(PubSubMessage(b"{}", uuid.uuid4().hex))


class FirestoreHarness:
    name = "firestore"

    def __init__(self, common: Common, project: str) -> None:
        self.proxy = common.proxy
        self.project = project
        self.backup_bucket = common.storage_client.create_bucket(unique_bucket_name("fs-bak"))
        self.state_bucket = common.state_bucket
        self.restores = Restores(common.state_bucket, registry, complete)

    def env(self) -> dict[str, str]:
        return {
            "FIRESTORE_PROJECT_ID": self.project,
            "FIRESTORE_GCS_BUCKET": self.backup_bucket.name,
            "DR_STATE_BUCKET": self.state_bucket.name,
        }

    def deliver_backup(self, message: PubSubMessage) -> None:
        handlers.on_backup_message(message)
        if message.json().get("dry_run"):
            return
        run_id = trigger_run_id(message, datetime.now(UTC))

        def committed() -> bool:
            complete()
            return any(e.backup_id == run_id and e.complete for e in catalog(self).entries())

        wait_until(committed, 60, f"Firestore run {run_id} to be committed", interval=0.3)

    def kill_midway(self) -> str:
        """The export is started and written; the completion step never runs."""
        message = scheduler_message({"tier": "daily"})
        handlers.on_backup_message(message)
        run_id = trigger_run_id(message, datetime.now(UTC))
        wait_until(
            lambda: any(e.backup_id == run_id for e in catalog(self).entries()),
            60,
            f"the export of run {run_id} to be written",
        )
        return run_id

    def production_request(self) -> dict[str, Any]:
        return {"target": "firestore", "date": datetime.now(UTC).date().isoformat()}

    def test_request(self) -> dict[str, Any]:
        return {**self.production_request(), "test_mode": True}

    def source_state(self) -> Any:
        """Every document's values and update time (a rewrite with equal values shows too)."""
        client = data_client(self.project)
        values = firestoredata.snapshot(client)
        documents = client.get_all([client.document(path) for path in values])
        return values, {doc.reference.path: doc.update_time for doc in documents}

    def leftovers(self) -> set[str]:
        admin = clients.firestore_admin_client()
        listed = admin.list_databases(parent=f"projects/{self.project}")
        return {database.name for database in listed.databases}


@contextlib.contextmanager
def running(common: Common) -> Iterator[FirestoreHarness]:
    admin = common.fixture("firestore_admin")
    emulator = common.fixture("firestore_emulator")
    project = common.fixture("devstack").project
    harness = FirestoreHarness(common, project)
    with patched_environ({**admin.env(), **emulator.env(), **harness.env()}):
        seed(emulator, project, "(default)")
        yield harness
