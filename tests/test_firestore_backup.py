"""Firestore backups end to end: managed export started by one step, ended by its completion step.

Real servers throughout: the Firestore emulator holds the data, the Admin API
stand-in runs the exports on it (asynchronously, so "never blocks" is real),
fake-gcs-server holds the exports and manifests, and notifications go to a
real HTTP receiver.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import prune
from shared.catalog import Catalog
from shared.errors import ConfigError, PermissionDenied
from shared.events import PubSubMessage
from shared.firestore import admin, backup_record, handlers
from shared.firestore.backup_completion import START_GRACE
from shared.firestore.backup_record import PendingExport
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
    backups,
    complete,
    runs,
    seed,
    settings_for,
    start,
    wait_done,
)
from tests.polling import wait_until

pytest_plugins = ["tests.firestore_fixtures"]


def message(body: dict[str, Any]) -> PubSubMessage:
    return PubSubMessage(data=json.dumps(body).encode(), message_id="m-1")


def test_export_is_started_by_one_step_and_ended_by_the_completion_step(
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
    record, _ = backup_record.read(backup_bucket, run.location) or pytest.fail("no pending record")
    assert record.operation
    assert not admin.operation_status(admin_client, record.operation).done
    assert record.snapshot_time == record.started.replace(second=0, microsecond=0)

    handlers.on_complete_message(message({}))  # still running: nothing is ended
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
    assert backup_record.read(backup_bucket, run.location) is None
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
    backup_record.create(backup_bucket, location, record)
    operation = admin.start_export(
        admin_client, record.database, record.output_uri_prefix, (), None
    )
    wait_done(admin_client, operation)

    [result] = complete(settings, backup_bucket, admin_client, datetime.now(UTC))

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
    backup_record.create(backup_bucket, location, record)

    complete(settings, backup_bucket, admin_client, started + timedelta(minutes=5))
    assert runs(backup_bucket)[0].manifest is None  # within the grace period: still starting
    complete(settings, backup_bucket, admin_client, datetime.now(UTC))

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
    failing = start(broken, backup_bucket, admin_client, now)
    held = settings_for(project, backup_bucket.name, webhook, FIRESTORE_DATABASE=HELD_DB)
    cancelled = start(held, backup_bucket, admin_client, now - timedelta(seconds=1))
    assert cancelled.operation is not None
    assert failing.operation is not None
    admin_client.cancel_operation(request={"name": cancelled.operation})
    export = cancelled.location.path("export/")
    wait_until(
        lambda: list(backup_bucket.list_blobs(prefix=export + "all_namespaces/")),
        what="the cancelled export's partial files",
    )
    wait_done(admin_client, failing.operation)

    complete(broken, backup_bucket, admin_client, datetime.now(UTC))

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
        start(denied, backup_bucket, admin_client, datetime.now(UTC))
    [run] = runs(backup_bucket)
    assert run.manifest is not None
    assert run.manifest.status == "failed"
    assert "PermissionDenied" in (run.manifest.error or "")

    eu = storage_client.lookup_bucket(EU_BUCKET) or storage_client.create_bucket(EU_BUCKET)
    wrong = settings_for(devstack.project, EU_BUCKET, webhook)
    with pytest.raises(ConfigError, match="is in location EUR4"):
        start(wrong, eu, admin_client, datetime.now(UTC))
    assert [r["status"] for r in webhook.received()] == ["failed", "failed"]
    assert "EUR4" in webhook.received()[1]["error"]


def test_an_export_running_past_the_timeout_is_reported_once_and_still_ended(
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
    started = start(settings, backup_bucket, admin_client, now)
    late = now + TIMEOUT + timedelta(minutes=1)

    for _ in range(2):
        [result] = complete(settings, backup_bucket, admin_client, late)
        assert result.state == "overdue"
    [report] = webhook.received()
    assert report["status"] == "failed"
    assert "FIRESTORE_EXPORT_TIMEOUT_MINUTES" in report["error"]

    firestore_admin.release(started.record.database)
    assert started.operation is not None
    wait_done(admin_client, started.operation)
    [result] = complete(settings, backup_bucket, admin_client, late)
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
    started = start(settings, backup_bucket, admin_client, datetime.now(UTC))
    assert started.operation is not None
    wait_done(admin_client, started.operation)
    complete(settings, backup_bucket, admin_client, datetime.now(UTC))

    manifest = runs(backup_bucket)[0].manifest
    assert manifest is not None
    assert manifest.ok
    assert manifest.source["snapshot_time"] is None
    assert "may include changes made while it ran" in manifest.source["consistency"]
    assert manifest.source["collection_ids"] == ["users", "orders"]
    assert dict(manifest.counts) == {"orders": 12, "users": 6}


def test_each_run_end_applies_retention_but_never_removes_the_newest_good_export(
    fs_env: dict[str, str],
    firestore_emulator: Any,
    admin_client: Any,
    backup_bucket: Any,
    devstack: Any,
    webhook: Webhook,
) -> None:
    seed(firestore_emulator, devstack.project, "(default)")
    settings = settings_for(
        devstack.project, backup_bucket.name, webhook, FIRESTORE_RETENTION_DAYS="2"
    )
    day = datetime.now(UTC) - timedelta(days=6)
    started = [
        start(settings, backup_bucket, admin_client, day + timedelta(days=5 * n)) for n in range(2)
    ]
    for run in started:
        wait_done(admin_client, run.operation)

    complete(settings, backup_bucket, admin_client)  # ends the older run, then the newer

    assert [e.backup_id for e in runs(backup_bucket)] == [started[1].location.run_id]
    assert not list(backup_bucket.list_blobs(prefix=started[0].location.directory))
    older, newest = webhook.received()
    assert older["details"]["Retention"] == "no run removed"  # the newer run had not ended yet
    assert newest["details"]["Retention"] == "removed 1 run(s)"
    decisions = prune.prune_target(
        Catalog(backup_bucket, "firestore"),
        settings.retention.policy,
        datetime.now(UTC),
        dry_run=True,
    )
    assert [d.reason for d in decisions] == ["within 2d"]


def test_a_dry_run_trigger_plans_and_writes_nothing(
    fs_env: dict[str, str],
    admin_client: Any,
    backup_bucket: Any,
    devstack: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in {
        "FIRESTORE_PROJECT_ID": devstack.project,
        "FIRESTORE_GCS_BUCKET": backup_bucket.name,
    }.items():
        monkeypatch.setenv(key, value)
    [line] = backups(
        settings_for(devstack.project, backup_bucket.name), backup_bucket, admin_client
    ).plan("daily")
    assert line.startswith(
        f"export projects/{devstack.project}/databases/(default) (all collections)"
    )
    assert "consistent snapshot at" in line

    handlers.on_backup_message(message({"tier": "daily", "dry_run": True}))

    assert list(backup_bucket.list_blobs()) == []


def _exported(settings: Any, bucket: Any, client: Any) -> Any:
    """A run whose export Firestore has ended, and that no completion step has ended yet."""
    started = start(settings, bucket, client)
    wait_done(client, started.operation)
    return started


@pytest.mark.parametrize(
    ("database", "status"), [("(default)", "succeeded"), (BROKEN_DB, "failed")]
)
def test_completion_steps_racing_over_one_run_end_it_once_and_report_once(
    seeded: Any, admin_client: Any, backup_bucket: Any, webhook: Webhook, database: str, status: str
) -> None:
    """Four steps in threads build the same manifest; one claims the run, ends it, reports."""
    settings = settings_for(
        seeded.project, backup_bucket.name, webhook, FIRESTORE_DATABASE=database
    )
    started = _exported(settings, backup_bucket, admin_client)
    barrier = threading.Barrier(4)

    def step() -> list[Any]:
        barrier.wait()
        return list(complete(settings, backup_bucket, admin_client))

    with ThreadPoolExecutor(4) as pool:
        results = [r for done in [pool.submit(step) for _ in range(4)] for r in done.result()]

    assert [r.state for r in results].count(status) == 1
    assert {r.state for r in results} <= {status, "skipped"}
    [run] = runs(backup_bucket)
    assert run.manifest is not None
    assert run.manifest.status == status
    assert backup_record.read(backup_bucket, run.location) is None
    [report] = webhook.received()
    assert report["status"] == status
    assert report["details"]["database"] == started.record.database
    assert "Retention" in report["details"]


def test_a_fresh_claim_is_left_to_its_step_and_a_stale_one_is_taken_over(
    seeded: Any, admin_client: Any, backup_bucket: Any, webhook: Webhook
) -> None:
    settings = settings_for(seeded.project, backup_bucket.name, webhook)
    started = _exported(settings, backup_bucket, admin_client)
    found = backup_record.read(backup_bucket, started.location) or pytest.fail("no record")
    claimed = datetime.now(UTC)  # a step claimed the run, then died before ending it
    backup_record.update(backup_bucket, started.location, found[0], found[1], ending=claimed)

    [result] = complete(settings, backup_bucket, admin_client, claimed + timedelta(minutes=1))
    assert (result.state, result.detail) == ("skipped", "being ended by another step")
    assert runs(backup_bucket)[0].manifest is None

    [result] = complete(settings, backup_bucket, admin_client, claimed + START_GRACE)
    assert result.state == "succeeded"
    assert [r["status"] for r in webhook.received()] == ["succeeded"]
