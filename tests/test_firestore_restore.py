"""Firestore restores end to end: started by one call, carried to the end by the completion step.

Exports and imports run on the real Firestore emulator through the Admin API
stand-in; status records live in a real state bucket; the restore ends through
the shared lifecycle (final phase, lock, one notification to a real receiver).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.errors import BackupNotFound, PermissionDenied, RefusedError, RequestError
from shared.firestore import admin, restore, restore_record, verify
from shared.firestore.request import FirestoreRestore
from shared.target import RestoreOutcome
from tests import firestoredata
from tests.firestorestack import (
    BROKEN_DB,
    DENIED_PROJECT,
    PLAIN_DB,
    Restorer,
    Webhook,
    complete,
    data_client,
    export_now,
    seed,
    settings_for,
    start,
    wait_done,
)

pytest_plugins = ["tests.firestore_fixtures"]


def test_test_mode_imports_into_a_scratch_database_counts_it_and_deletes_it(
    restorer: Restorer, webhook: Webhook, devstack: Any
) -> None:
    """Must show: export -> test restore -> counts verified -> scratch database gone."""
    manifest = export_now(restorer.settings, restorer.bucket, restorer.client)
    request_id, started = restorer.start(test_mode=True)
    assert isinstance(started, restore.RestoreStarted)
    assert started.step == "create_database"
    scratch = started.destination

    status = restorer.finish(request_id)

    assert status["phase"] == "Completed", status
    result = status["result"]
    assert result["mode"] == "test"
    assert result["verified"] is True
    assert result["counts"] == firestoredata.EXPECTED_COUNTS == dict(manifest.counts)
    assert result["details"]["scratch_database_deleted"] is True
    assert admin.get_database(restorer.client, scratch) is None
    assert list(data_client(devstack.project, scratch.rsplit("/", 1)[1]).collections()) == []
    assert [p["phase"] for p in status["phases"]][-3:] == ["InProgress", "Verifying", "Completed"]
    assert restore_record.in_flight(restorer.store.bucket) == []
    test_reports = [r for r in webhook.received() if r["operation"] == "test restore"]
    assert [r["status"] for r in test_reports] == ["succeeded"]


def test_a_restore_into_another_database_gives_back_the_same_documents(
    restorer: Restorer, seeded: Any, devstack: Any
) -> None:
    export_now(restorer.settings, restorer.bucket, restorer.client)
    operation = admin.create_database(restorer.client, devstack.project, "restored-copy", "nam5")
    wait_done(restorer.client, operation)
    try:
        request_id, _ = restorer.start(target_database="restored-copy")
        status = restorer.finish(request_id)
        assert status["phase"] == "Completed"
        assert status["result"]["verified"] is True
        assert restore.IMPORT_NOTE in status["result"]["notes"]
        copy = data_client(devstack.project, "restored-copy")
        assert firestoredata.snapshot(copy) == firestoredata.snapshot(seeded)
    finally:
        admin.delete_database(
            restorer.client, admin.database_name(devstack.project, "restored-copy")
        )


def test_importing_into_production_needs_confirmation_and_leaves_other_documents(
    restorer: Restorer, seeded: Any, devstack: Any
) -> None:
    export_now(restorer.settings, restorer.bucket, restorer.client)
    seeded.document("users/user-000").update({"email": "changed@example.com"})
    seeded.document("users/new-user").set({"email": "new@example.com"})

    with pytest.raises(RefusedError, match=f'"confirm": "{devstack.project}"'):
        restorer.start()
    request_id, _ = restorer.start(confirm=devstack.project)
    status = restorer.finish(request_id)

    assert status["phase"] == "Completed"
    assert status["result"]["verified"] is True
    assert seeded.document("users/user-000").get().get("email") == "user0@example.com"
    assert seeded.document("users/new-user").get().exists  # an import leaves other documents
    assert status["result"]["counts"]["users"] == firestoredata.USERS + 1


def test_a_database_holding_documents_needs_the_confirm_the_dispatcher_asks_for(
    restorer: Restorer, firestore_emulator: Any, devstack: Any
) -> None:
    """One production rule: the library refuses what ``dr-restore`` would, naming the same confirm."""
    export_now(restorer.settings, restorer.bucket, restorer.client)
    seed(firestore_emulator, devstack.project, PLAIN_DB)  # another database, holding documents
    confirm = f"{devstack.project}/{PLAIN_DB}"
    today = datetime.now(UTC).date()
    other = FirestoreRestore(today, target_database=PLAIN_DB)
    assert restore.production_name(other, restorer.settings) == confirm
    assert restore.production_name(FirestoreRestore(today), restorer.settings) == devstack.project
    test = FirestoreRestore(today, test_mode=True)
    assert restore.production_name(test, restorer.settings) is None

    with pytest.raises(RefusedError, match=f'"confirm": "{confirm}"'):
        restorer.start(target_database=PLAIN_DB)
    _, plan = restorer.start(target_database=PLAIN_DB, dry_run=True)
    assert isinstance(plan, RestoreOutcome)
    assert f'"confirm": "{confirm}"' in plan.plan[-1]
    request_id, _ = restorer.start(target_database=PLAIN_DB, confirm=confirm)
    assert restorer.finish(request_id)["phase"] == "Completed"


def test_a_dry_run_plans_and_says_what_an_import_does(restorer: Restorer) -> None:
    export_now(restorer.settings, restorer.bucket, restorer.client)
    _, plan = restorer.start(dry_run=True)
    assert isinstance(plan, RestoreOutcome)
    assert plan.mode == "plan"
    assert plan.verified is None
    assert restore.IMPORT_NOTE in plan.notes
    assert any("needs" in line and "confirm" in line for line in plan.plan)
    assert restore_record.in_flight(restorer.store.bucket) == []


def test_missing_failed_and_unfinished_exports_are_refused(
    restorer: Restorer, devstack: Any, backup_bucket: Any, admin_client: Any
) -> None:
    with pytest.raises(BackupNotFound, match="there are no backups at all"):
        restorer.start(date="2025-03-25")
    broken = settings_for(devstack.project, backup_bucket.name, FIRESTORE_DATABASE=BROKEN_DB)
    failed = start(
        broken,
        backup_bucket,
        admin_client,
        datetime.now(UTC) - timedelta(days=1),
    )
    assert failed.operation is not None
    wait_done(admin_client, failed.operation)
    complete(broken, backup_bucket, admin_client, datetime.now(UTC))
    day = failed.location.started.date().isoformat()
    with pytest.raises(
        BackupNotFound,
        match=f"run {failed.location.run_id} failed: the export "
        "failed .* a partial export cannot be imported",
    ):
        restorer.start(date=day, test_mode=True)


def test_collection_subsets(restorer: Restorer, devstack: Any) -> None:
    earlier = datetime.now(UTC) - timedelta(seconds=5)  # so the subset export is the newest
    export_now(restorer.settings, restorer.bucket, restorer.client, now=earlier)
    with pytest.raises(RequestError, match="only from an export of specific collections"):
        restorer.start(test_mode=True, collection_ids=["users"])

    subset = settings_for(
        devstack.project, restorer.bucket.name, FIRESTORE_COLLECTION_IDS="users,items"
    )
    export_now(subset, restorer.bucket, restorer.client)
    with pytest.raises(RequestError, match=r"orders are not in export .* holds users, items"):
        restorer.start(test_mode=True, collection_ids=["orders"])
    request_id, _ = restorer.start(test_mode=True, collection_ids=["users"])
    status = restorer.finish(request_id)
    assert status["phase"] == "Completed"
    assert status["result"]["counts"] == {"users": 6}


def test_permission_denied_on_the_target_project_is_a_clear_error(restorer: Restorer) -> None:
    export_now(restorer.settings, restorer.bucket, restorer.client)
    with pytest.raises(PermissionDenied, match=f"projects/{DENIED_PROJECT}/databases"):
        restorer.start(target_project=DENIED_PROJECT)
    assert restore_record.in_flight(restorer.store.bucket) == []


def test_a_failed_import_fails_the_request(restorer: Restorer, webhook: Webhook) -> None:
    export_now(restorer.settings, restorer.bucket, restorer.client)
    request_id, _ = restorer.start(target_database=BROKEN_DB)
    status = restorer.finish(request_id)
    assert status["phase"] == "Failed"
    assert "the import failed" in status["errors"][-1]
    assert [r["status"] for r in webhook.received() if r["operation"] == "restore"] == ["failed"]


def test_a_restore_whose_starter_died_is_resumed(restorer: Restorer, seeded: Any) -> None:
    """Killed after starting the import (found by listing) or before (re-issued)."""
    manifest = export_now(restorer.settings, restorer.bucket, restorer.client)
    request_id, started = restorer.start(confirm=restorer.settings.project_id)
    assert isinstance(started, restore.RestoreStarted)
    job, generation = restore_record.read(restorer.store.bucket, request_id) or pytest.fail(
        "no record"
    )
    restore_record.update(restorer.store.bucket, job, generation, operation=None)
    assert restorer.finish(request_id)["phase"] == "Completed"
    record = restorer.store.get(request_id)
    assert record is not None
    assert record.data["result"]["details"]["operation"] == started.operation

    restorer.store.create("req-lost", {"target": "firestore"}, "msg-lost")
    lost = dataclasses.replace(  # into another database, as the lock keeps restores apart
        job,
        request_id="req-lost",
        operation=None,
        database=PLAIN_DB,
        input_uri_prefix=str(manifest.source["output_uri_prefix"]),
        step_started=datetime.now(UTC) - timedelta(hours=1),
    )
    restore_record.create(restorer.store.bucket, lost)
    status = restorer.finish("req-lost")
    assert status["phase"] == "Completed"
    assert status["result"]["details"]["operation"] not in (None, started.operation)


def test_an_export_can_be_verified_in_place_without_importing(restorer: Restorer) -> None:
    manifest = export_now(restorer.settings, restorer.bucket, restorer.client)
    check = verify.check_backup(restorer.bucket, manifest.started.date(), "daily")
    assert check.verified
    assert dict(check.counts) == firestoredata.EXPECTED_COUNTS

    blob = restorer.bucket.blob(manifest.location.path("export/all_namespaces/all_kinds/output-0"))
    data = bytearray(blob.download_as_bytes())
    data[100] ^= 0xFF
    blob.upload_from_string(bytes(data))
    check = verify.check_export(restorer.bucket, manifest)
    assert not check.verified
    assert "checksum mismatch" in check.problems[0]
