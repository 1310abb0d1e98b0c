"""Opt-in: the Firestore backup and test restore against a real Google Cloud project.

Runs only with ``-m live`` style selection and credentials: ``DR_LIVE_PROJECT``
(a project with Firestore in Native mode), ``DR_LIVE_BUCKET`` (a bucket in a
location the database may export to; backups and restore status go there)
and Application Default Credentials allowed to export, import and create and
delete databases. It writes a few documents to a collection of its own,
exports only that collection, test-restores it into a scratch database that it
deletes, and removes what it wrote. Expect several minutes: real exports and
imports are slow to start.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import clients, config
from shared.firestore import admin, backup, restore
from shared.firestore.request import FirestoreRestore
from shared.firestore.restore_completion import complete_restores
from shared.firestore.target import FirestoreBackupTarget
from shared.manifest import RunLocation, new_run_id
from shared.restore.status import StatusStore

pytestmark = pytest.mark.live

PROJECT = os.environ.get("DR_LIVE_PROJECT", "")
BUCKET = os.environ.get("DR_LIVE_BUCKET", "")
DATABASE = os.environ.get("DR_LIVE_DATABASE", "(default)")
DEADLINE = timedelta(minutes=30)
TIMEOUT = timedelta(hours=12)


def _credentials_or_skip() -> None:
    if not (PROJECT and BUCKET):
        pytest.skip("set DR_LIVE_PROJECT and DR_LIVE_BUCKET to run the live Firestore suite")
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        google.auth.default()
    except DefaultCredentialsError as error:
        pytest.skip(f"no Google Cloud credentials: {error}")


@pytest.fixture(scope="module")
def live() -> Iterator[dict[str, Any]]:
    _credentials_or_skip()
    from google.cloud import firestore

    collection = f"dr_live_probe_{secrets.token_hex(4)}"
    data = firestore.Client(project=PROJECT, database=DATABASE)
    for n in range(5):
        data.collection(collection).document(f"d{n}").set(
            {"n": n, "at": datetime.now(UTC), "where": firestore.GeoPoint(1.5, n)}
        )
    settings = config.firestore_settings(
        config.sources(
            environ={},
            overrides={
                "FIRESTORE_PROJECT_ID": PROJECT,
                "FIRESTORE_GCS_BUCKET": BUCKET,
                "FIRESTORE_DATABASE": DATABASE,
                "FIRESTORE_COLLECTION_IDS": collection,
            },
        )
    )
    storage = clients.storage_client(PROJECT)
    yield {
        "settings": settings,
        "bucket": storage.bucket(BUCKET),
        "collection": collection,
        "client": clients.firestore_admin_client(),
    }
    for document in data.collection(collection).list_documents():
        document.delete()


def _until(step: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE.total_seconds()
    while time.monotonic() < deadline:
        result = step()
        if result:
            return result
        time.sleep(20)
    pytest.fail(f"{what} did not finish within {DEADLINE}")


def test_live_export_then_test_restore(live: dict[str, Any]) -> None:
    settings, bucket, client = live["settings"], live["bucket"], live["client"]
    target = FirestoreBackupTarget(settings, bucket, client)
    location = RunLocation("", "firestore", "daily", new_run_id(datetime.now(UTC)))
    started = backup.start(settings, location, end=target.run_end(), client=client)
    assert started.operation is not None

    def exported() -> bool:
        results = target.complete()
        return any(r.run_id == started.location.run_id and r.state != "running" for r in results)

    _until(exported, "the export")
    _, manifest = restore.resolve(bucket, datetime.now(UTC).date(), "daily")
    assert manifest.location == started.location
    assert manifest.ok
    assert dict(manifest.counts) == {live["collection"]: 5}

    store = StatusStore(bucket)
    request_id = f"live-{started.location.run_id}"
    store.create(request_id, {"target": "firestore", "test_mode": True}, "live")
    begun = restore.start_restore(
        FirestoreRestore(datetime.now(UTC).date(), test_mode=True),
        settings=settings,
        store=store,
        request_id=request_id,
        bucket=bucket,
        client=client,
        now=datetime.now(UTC),
    )
    assert isinstance(begun, restore.RestoreStarted)

    def restored() -> bool:
        complete_restores(
            settings, store=store, client=client, now=datetime.now(UTC), timeout=TIMEOUT
        )
        record = store.get(request_id)
        return record is not None and record.final

    _until(restored, "the test restore")
    record = store.get(request_id)
    assert record is not None
    assert record.phase == "Completed", record.data
    assert record.data["result"]["verified"] is True
    assert admin.get_database(client, begun.destination) is None
