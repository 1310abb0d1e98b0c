"""Firestore backups end to end: managed export started by one step, finalized by another.

Real servers throughout: the Firestore emulator holds the data, the Admin API
stand-in runs the exports on it (asynchronously, so "never blocks" is real),
fake-gcs-server holds the exports and manifests, and notifications go to a
real HTTP receiver.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.errors import ConfigError, PermissionDenied
from shared.events import PubSubMessage
from shared.firestore import admin, complete, handlers, jobs, pending
from shared.firestore.export import apply_retention, start_export
from shared.firestore.pending import PendingExport
from shared.manifest import RunLocation, new_run_id
from tests import firestoredata
from tests.firestorestack import (
    BROKEN_DB,
    DENIED_PROJECT,
    EU_BUCKET,
    HELD_DB,
    PLAIN_DB,
    TIMEOUT,
    Webhook,
    runs,
    seed,
    settings_for,
    wait_done,
)
from tests.polling import wait_until

pytest_plugins = ["tests.firestore_fixtures"]


def message(body: dict[str, Any]) -> PubSubMessage:
    return PubSubMessage(data=json.dumps(body).encode(), message_id="m-1")


def test_export_is_started_by_one_step_and_finalized_by_the_completion_step(
    fs_env: dict[str, str],
    firestore_admin: Any,
    firestore_emulator: Any,
    admin_client: Any,
    backup_bucket: Any,
    webhook: Webhook,
    devstack: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Must show: seeded data (every type) -> export -> manifest written by the completion step."""
    project = devstack.project
    seed(firestore_emulator, project, HELD_DB)
    for key, value in {
        "FIRESTORE_PROJECT_ID": project,
        "FIRESTORE_GCS_BUCKET": backup_bucket.name,
        "FIRESTORE_DATABASE": HELD_DB,
        "NOTIFY_WEBHOOK": webhook.url,
        "NOTIFY_WEBHOOK_FORMAT": "json",
    }.items():
        monkeypatch.setenv(key, value)

    handlers.on_backup_message(message({"tier": "daily"}))

    [run] = runs(backup_bucket)
    assert run.manifest is None  # the starting function never writes the manifest
    record, _ = pending.read(backup_bucket, run.location) or pytest.fail("no pending record")
    assert record.operation
    assert not admin.operation_status(admin_client, record.operation).done
    assert record.snapshot_time == record.started.replace(second=0, microsecond=0)

    handlers.on_complete_message(message({}))  # still running: nothing is finalized
    assert runs(backup_bucket)[0].manifest is None
    assert webhook.received() == []

    firestore_admin.release(record.database)
    wait_done(admin_client, record.operation)
    handlers.on_complete_message(message({}))

    [run] = runs(backup_bucket)
    manifest = run.manifest
    assert manifest is not None
    assert manifest.ok
    assert dict(manifest.counts) == firestoredata.EXPECTED_COUNTS
    assert manifest.details["progress_documents"] == sum(firestoredata.EXPECTED_COUNTS.values())
    assert manifest.details["progress_bytes"] > 0
    assert manifest.details["counted"] is True
    assert manifest.source["snapshot_time"] == record.snapshot_time.isoformat()
    assert manifest.source["database"] == f"projects/{project}/databases/{HELD_DB}"
    assert pending.read(backup_bucket, run.location) is None
    assert all(a.path.startswith("export/") and a.sha256 for a in manifest.artifacts)

    handlers.on_complete_message(message({}))  # a later check finds nothing left to do
    [report] = webhook.received()
    assert report["status"] == "succeeded"
    assert report["run_id"] == run.backup_id
    assert report["counts"] == firestoredata.EXPECTED_COUNTS


def test_a_killed_starter_is_recovered_by_the_completion_step(
    fs_env: dict[str, str],
    firestore_emulator: Any,
    admin_client: Any,
    backup_bucket: Any,
    devstack: Any,
) -> None:
    """The function died after Firestore accepted the export, before recording its name."""
    project = devstack.project
    seed(firestore_emulator, project, "(default)")
    settings = settings_for(project, backup_bucket.name)
    now = datetime.now(UTC)
    location = RunLocation("", "firestore", "daily", new_run_id(now))
    record = PendingExport(
        admin.database_name(project, "(default)"),
        f"gs://{backup_bucket.name}/{location.path('export')}",
        (),
        None,
        False,
        now,
    )
    pending.create(backup_bucket, location, record)
    operation = admin.start_export(
        admin_client, record.database, record.output_uri_prefix, (), None
    )
    wait_done(admin_client, operation)

    [result] = complete.complete_exports(
        settings, bucket=backup_bucket, client=admin_client, now=datetime.now(UTC), timeout=TIMEOUT
    )

    assert result.state == "succeeded"
    manifest = runs(backup_bucket)[0].manifest
    assert manifest is not None
    assert manifest.details["operation"] == operation
    assert dict(manifest.counts) == firestoredata.EXPECTED_COUNTS


def test_a_run_whose_export_never_started_is_marked_failed_after_the_grace_period(
    fs_env: dict[str, str],
    admin_client: Any,
    backup_bucket: Any,
    devstack: Any,
    webhook: Webhook,
) -> None:
    settings = settings_for(devstack.project, backup_bucket.name, webhook)
    started = datetime.now(UTC) - timedelta(minutes=30)
    location = RunLocation("", "firestore", "daily", new_run_id(started))
    record = PendingExport(
        admin.database_name(devstack.project, "(default)"),
        f"gs://{backup_bucket.name}/{location.path('export')}",
        (),
        None,
        False,
        started,
    )
    pending.create(backup_bucket, location, record)

    complete.complete_exports(
        settings,
        bucket=backup_bucket,
        client=admin_client,
        now=started + timedelta(minutes=5),
        timeout=TIMEOUT,
    )
    assert runs(backup_bucket)[0].manifest is None  # within the grace period: still starting
    complete.complete_exports(
        settings, bucket=backup_bucket, client=admin_client, now=datetime.now(UTC), timeout=TIMEOUT
    )

    manifest = runs(backup_bucket)[0].manifest
    assert manifest is not None
    assert manifest.status == "failed"
    assert "never started" in (manifest.error or "")
    assert [r["status"] for r in webhook.received()] == ["failed"]


def test_failed_and_cancelled_exports_are_committed_failed_and_notified(
    fs_env: dict[str, str],
    admin_client: Any,
    backup_bucket: Any,
    devstack: Any,
    webhook: Webhook,
) -> None:
    project, now = devstack.project, datetime.now(UTC)
    broken = settings_for(project, backup_bucket.name, webhook, FIRESTORE_DATABASE=BROKEN_DB)
    failing = start_export(broken, "daily", bucket=backup_bucket, client=admin_client, now=now)
    held = settings_for(project, backup_bucket.name, webhook, FIRESTORE_DATABASE=HELD_DB)
    cancelled = start_export(
        held, "daily", bucket=backup_bucket, client=admin_client, now=now - timedelta(seconds=1)
    )
    assert cancelled.operation is not None
    assert failing.operation is not None
    admin_client.cancel_operation(request={"name": cancelled.operation})
    export = cancelled.location.path("export/")
    wait_until(
        lambda: list(backup_bucket.list_blobs(prefix=export + "all_namespaces/")),
        what="the cancelled export's partial files",
    )
    wait_done(admin_client, failing.operation)

    complete.complete_exports(
        broken, bucket=backup_bucket, client=admin_client, now=datetime.now(UTC), timeout=TIMEOUT
    )

    by_run = {e.backup_id: e.manifest for e in runs(backup_bucket)}
    failed, stopped = by_run[failing.location.run_id], by_run[cancelled.location.run_id]
    assert failed is not None
    assert failed.status == "failed"
    assert "the export failed" in (failed.error or "")
    assert "internal error" in (failed.error or "")
    assert stopped is not None
    assert stopped.status == "failed"
    assert "the export cancelled" in (stopped.error or "")
    assert "cannot be imported" in (stopped.error or "")
    assert not backup_bucket.blob(export + "export.overall_export_metadata").exists()
    assert sorted(r["status"] for r in webhook.received()) == ["failed", "failed"]


def test_permission_denied_and_a_bucket_in_the_wrong_location_fail_clearly(
    fs_env: dict[str, str],
    admin_client: Any,
    backup_bucket: Any,
    storage_client: Any,
    devstack: Any,
    webhook: Webhook,
) -> None:
    denied = settings_for(DENIED_PROJECT, backup_bucket.name, webhook)
    with pytest.raises(PermissionDenied, match=r"permission denied.*datastore\.importExportAdmin"):
        start_export(
            denied, "daily", bucket=backup_bucket, client=admin_client, now=datetime.now(UTC)
        )
    [run] = runs(backup_bucket)
    assert run.manifest is not None
    assert run.manifest.status == "failed"
    assert "PermissionDenied" in (run.manifest.error or "")

    eu = storage_client.lookup_bucket(EU_BUCKET) or storage_client.create_bucket(EU_BUCKET)
    wrong = settings_for(devstack.project, EU_BUCKET, webhook)
    with pytest.raises(ConfigError, match="is in location EUR4"):
        start_export(wrong, "daily", bucket=eu, client=admin_client, now=datetime.now(UTC))
    assert [r["status"] for r in webhook.received()] == ["failed", "failed"]
    assert "EUR4" in webhook.received()[1]["error"]


def test_an_export_running_past_the_timeout_is_reported_once_and_still_finalized(
    fs_env: dict[str, str],
    firestore_admin: Any,
    admin_client: Any,
    backup_bucket: Any,
    devstack: Any,
    webhook: Webhook,
) -> None:
    settings = settings_for(
        devstack.project, backup_bucket.name, webhook, FIRESTORE_DATABASE=HELD_DB
    )
    now = datetime.now(UTC)
    started = start_export(settings, "daily", bucket=backup_bucket, client=admin_client, now=now)
    late = now + TIMEOUT + timedelta(minutes=1)

    for _ in range(2):
        [result] = complete.complete_exports(
            settings, bucket=backup_bucket, client=admin_client, now=late, timeout=TIMEOUT
        )
        assert result.state == "overdue"
    [report] = webhook.received()
    assert report["status"] == "failed"
    assert "FIRESTORE_EXPORT_TIMEOUT_MINUTES" in report["error"]

    firestore_admin.release(started.record.database)
    assert started.operation is not None
    wait_done(admin_client, started.operation)
    [result] = complete.complete_exports(
        settings, bucket=backup_bucket, client=admin_client, now=late, timeout=TIMEOUT
    )
    assert result.state == "succeeded"
    assert [r["status"] for r in webhook.received()] == ["failed", "succeeded"]


def test_without_point_in_time_recovery_the_manifest_says_the_export_is_not_a_snapshot(
    fs_env: dict[str, str],
    firestore_emulator: Any,
    admin_client: Any,
    backup_bucket: Any,
    devstack: Any,
) -> None:
    seed(firestore_emulator, devstack.project, PLAIN_DB)
    settings = settings_for(
        devstack.project,
        backup_bucket.name,
        FIRESTORE_DATABASE=PLAIN_DB,
        FIRESTORE_COLLECTION_IDS="users,orders",
    )
    started = start_export(
        settings, "daily", bucket=backup_bucket, client=admin_client, now=datetime.now(UTC)
    )
    assert started.operation is not None
    wait_done(admin_client, started.operation)
    complete.complete_exports(
        settings, bucket=backup_bucket, client=admin_client, now=datetime.now(UTC), timeout=TIMEOUT
    )

    manifest = runs(backup_bucket)[0].manifest
    assert manifest is not None
    assert manifest.ok
    assert manifest.source["snapshot_time"] is None
    assert "may include changes made while it ran" in manifest.source["consistency"]
    assert manifest.source["collection_ids"] == ["users", "orders"]
    assert dict(manifest.counts) == {"orders": 12, "users": 6}


def test_retention_removes_old_exports_but_never_the_newest_good_one(
    fs_env: dict[str, str],
    firestore_emulator: Any,
    admin_client: Any,
    backup_bucket: Any,
    devstack: Any,
) -> None:
    seed(firestore_emulator, devstack.project, "(default)")
    settings = settings_for(devstack.project, backup_bucket.name, FIRESTORE_RETENTION_DAYS="2")
    day = datetime.now(UTC) - timedelta(days=6)
    for n in range(2):
        started = start_export(
            settings,
            "daily",
            bucket=backup_bucket,
            client=admin_client,
            now=day + timedelta(days=5 * n),
        )
        assert started.operation is not None
        wait_done(admin_client, started.operation)
    complete.complete_exports(
        settings, bucket=backup_bucket, client=admin_client, now=datetime.now(UTC), timeout=TIMEOUT
    )
    older, newest = sorted(runs(backup_bucket), key=lambda e: e.time)

    later = day + timedelta(days=45)  # within 2 days counts from the newest export
    planned = apply_retention(settings, "daily", bucket=backup_bucket, now=later, dry_run=True)
    assert [d.entry.backup_id for d in planned if d.remove] == [older.backup_id]
    assert [d.reason for d in planned if not d.remove] == ["within 2d"]
    assert len(runs(backup_bucket)) == 2
    apply_retention(settings, "daily", bucket=backup_bucket, now=later, dry_run=False)
    assert [e.backup_id for e in runs(backup_bucket)] == [newest.backup_id]
    assert not list(backup_bucket.list_blobs(prefix=older.location.directory))


def test_a_dry_run_trigger_writes_nothing(
    fs_env: dict[str, str], admin_client: Any, backup_bucket: Any, devstack: Any
) -> None:
    settings = settings_for(devstack.project, backup_bucket.name)
    run = jobs.run_backup(
        settings,
        "daily",
        bucket=backup_bucket,
        client=admin_client,
        now=datetime.now(UTC),
        dry_run=True,
    )
    assert run.started.operation is None
    assert run.started.record.snapshot_time is not None
    assert list(backup_bucket.list_blobs()) == []
