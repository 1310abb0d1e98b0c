"""The Firestore functions as deployed: functions-framework processes triggered by Pub/Sub push.

A scheduler-style message published to ``dr-firestore-backup`` reaches the
``firestore_backup`` entry point of ``functions/main.py`` through a push
subscription of the Pub/Sub emulator; the function starts the export and
returns; a message to ``dr-firestore-complete`` later ends its run. The
recorded push bodies under ``tests/data/events`` drive the same entry points
in-process.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from shared import catalog
from shared.firestore import backup_record
from shared.firestore.backup_record import PendingExport
from tests import firestoredata
from tests.devstack.functions import FunctionGroup, FunctionSpec
from tests.devstack.storage import unique_bucket_name
from tests.firestorestack import HELD_DB, data_client
from tests.polling import wait_until

pytest_plugins = ["tests.firestore_fixtures"]

EVENTS = Path(__file__).parent / "data" / "events"
MAIN = Path(__file__).parents[1] / "functions" / "main.py"


def recorded(event: str) -> bytes:
    """The message data of a recorded push body, to publish as the scheduler would."""
    return base64.b64decode(json.loads((EVENTS / event).read_text())["message"]["data"])


def test_backup_and_completion_functions_triggered_through_pubsub(
    function_stack: Callable[..., FunctionGroup],
    pubsub_emulator: Any,
    firestore_admin: Any,
    firestore_emulator: Any,
    storage_client: Any,
    admin_client: Any,
    devstack: Any,
) -> None:

    project = devstack.project
    firestore_emulator.clear(HELD_DB)
    firestoredata.seed(data_client(project, HELD_DB))
    bucket = storage_client.create_bucket(unique_bucket_name("fs-fn"))
    env = {
        **firestore_admin.env(),
        "FIRESTORE_PROJECT_ID": project,
        "FIRESTORE_GCS_BUCKET": bucket.name,
        "FIRESTORE_DATABASE": HELD_DB,
    }
    function_stack(
        [
            FunctionSpec("firestore_backup", ("dr-firestore-backup",), env=env),
            FunctionSpec("firestore_complete", ("dr-firestore-complete",), env=env),
        ],
        services=("storage", "firestore"),
    )
    exports = catalog.Catalog(bucket, "firestore")

    pubsub_emulator.publish("dr-firestore-backup", recorded("firestore_backup_push.json"))
    [run] = wait_until(exports.entries, what="the backup function's run")

    def started() -> PendingExport | None:
        found = backup_record.read(bucket, run.location)
        return found[0] if found and found[0].operation else None

    record = wait_until(started, what="the pending record with its operation")
    assert exports.entries()[0].manifest is None  # the function returned without waiting

    firestore_admin.release(record.database)
    pubsub_emulator.publish("dr-firestore-complete", recorded("firestore_complete_push.json"))
    wait_until(exports.backups, timeout=30, what="the manifest")
    manifest = exports.backups()[0].manifest
    assert manifest is not None
    assert dict(manifest.counts) == firestoredata.EXPECTED_COUNTS


@pytest.mark.parametrize(
    "event", ["firestore_backup_dry_run_push.json", "firestore_complete_push.json"]
)
def test_recorded_push_bodies_drive_the_entry_points(
    event: str,
    fs_env: dict[str, str],
    storage_client: Any,
    devstack: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = storage_client.create_bucket(unique_bucket_name("fs-ev"))
    monkeypatch.setenv("FIRESTORE_PROJECT_ID", devstack.project)
    monkeypatch.setenv("FIRESTORE_GCS_BUCKET", bucket.name)
    target = "firestore_complete" if "complete" in event else "firestore_backup"
    app = functions_framework.create_app(  # type: ignore[no-untyped-call]
        target=target, source=str(MAIN), signature_type="cloudevent"
    )
    answer = app.test_client().post(
        f"/projects/{devstack.project}/topics/dr-{target.replace('_', '-')}",
        data=(EVENTS / event).read_text(),
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert list(bucket.list_blobs()) == []  # a dry run and an idle check write nothing
