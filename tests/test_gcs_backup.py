"""Cloud Storage backups on fake-gcs-server: incremental runs, shards, checks, faults, retention.

Every run here goes through the real lister, shard workers and completion step;
shards run on threads in this process (the Pub/Sub path is in
``test_gcs_functions.py``). Where a test depends on behaviour fake-gcs-server
does not share with Cloud Storage, its docstring says which real behaviour
the test stands for. Helpers and fixtures are in ``tests/gcsfixtures.py``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from shared.backup_end import end_backup
from shared.catalog import Catalog
from shared.dates import parse_version_date
from shared.gcs import lister, worker
from shared.gcs.backup import run_backup
from shared.gcs.bucket_restore import restore_bucket
from shared.gcs.context import GcsContext
from shared.gcs.request import GcsRestoreRequest
from shared.gcs.run import done_prefix
from shared.gcs.run_completion import report_details
from shared.gcs.snapshot import copy_path
from shared.gcs.sweep import run_end
from shared.gcs.target import GcsBackupTarget
from shared.manifest import Manifest
from shared.target import BackupTarget
from tests.devstack.storage import unique_bucket_name
from tests.gcsfixtures import (
    T0,
    Clock,
    KeptReports,
    backup_objects,
    buckets,
    copies,
    fill,
    hook,
    list_only,
    make_settings,
    put,
    quick_notifier,
    reports,
    state,
)

__all__ = ["buckets", "hook"]  # fixtures, imported for use here

# --- the must-show: point in time gives back exactly the first state ---------------------------------


def test_restore_at_the_first_backups_time_gives_back_exactly_the_first_state(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    source, backup = buckets
    fill(source, 8)
    put(source, "config/production.json", b'{"model": "v2"}', "application/json", env="prod")
    first_state = state(storage_client, source.name)
    settings = make_settings([source.name], backup.name)
    clock = Clock(T0)
    first = run_backup(settings, clock=clock)

    put(source, "assets/item-001.bin", b"rewritten", "image/png")  # new bytes, metadata gone
    source.blob("assets/item-002.bin").delete()
    patched = source.get_blob("assets/item-003.bin")
    patched.metadata = {"owner": "someone-else"}  # metadata only: same generation
    patched.patch()
    put(source, "assets/new.bin", b"added later")
    second_state = state(storage_client, source.name)
    clock.now = T0 + timedelta(days=1)
    second = run_backup(settings, clock=clock)

    assert first.ok
    assert second.ok
    assert second.counts["copied"] == 2  # the rewritten object and the new one
    assert second.counts["reused"] == 7  # including the metadata-only change

    for version_date, expected in (
        ("2025-03-25", first_state),
        (None, second_state),
        (T0.isoformat(), first_state),
    ):
        target = unique_bucket_name("restored")
        outcome = restore_bucket(
            settings,
            GcsRestoreRequest(
                source.name, version_date=parse_version_date(version_date), target_bucket=target
            ),
        )
        assert outcome.verified, outcome.notes
        assert state(storage_client, target) == expected


def test_an_incremental_run_copies_only_what_changed(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    source, backup = buckets
    fill(source, 30)
    settings = make_settings([source.name], backup.name, GCS_SHARD_SIZE="7")
    first = run_backup(settings)
    before = copies(storage_client, backup.name)
    put(source, "assets/item-010.bin", b"changed")
    second = run_backup(settings)
    assert (first.counts["copied"], first.counts["reused"]) == (30, 0)
    assert (second.counts["copied"], second.counts["reused"]) == (1, 29)
    new = copies(storage_client, backup.name) - before
    generation = source.get_blob("assets/item-010.bin").generation
    assert new == {copy_path(source.name, generation, "assets/item-010.bin")}


def test_an_object_with_a_name_too_long_for_its_copy_path_round_trips(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    source, backup = buckets
    name = "deep/" + "x" * 1000  # 1005 bytes: the copy path would exceed 1024
    put(source, name, b"long name")
    settings = make_settings([source.name], backup.name)
    assert run_backup(settings).ok
    [copy] = copies(storage_client, backup.name)
    assert ".sha256/" in copy
    target = unique_bucket_name("restored")
    restore_bucket(settings, GcsRestoreRequest(source.name, target_bucket=target))
    assert state(storage_client, target) == state(storage_client, source.name)


def test_the_lister_fans_out_into_shards_and_the_completion_waits_for_all(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    source, backup = buckets
    fill(source, 20)
    settings = make_settings([source.name], backup.name, GCS_SHARD_SIZE="3")
    with GcsContext(settings) as ctx:
        shards = list_only(ctx)
        assert [s.index for s in shards] == list(range(7))
        results = [worker.process_shard(ctx, shard) for shard in reversed(shards)]
    assert results[:-1] == [None] * 6  # nobody completes the run before the seventh result
    manifest = results[-1]
    assert manifest is not None
    assert manifest.ok
    assert manifest.counts["shards"] == 7
    done = [
        b.name for b in storage_client.list_blobs(backup, prefix=done_prefix(manifest.location))
    ]
    assert len(done) == 7
    assert manifest.counts["objects"] == 20


# --- critical files ------------------------------------------------------------------------------


def test_a_missing_critical_file_fails_the_run_and_notifies(
    storage_client: Any,
    buckets: tuple[Any, Any],
    hook: str,
    httpserver: HTTPServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, backup = buckets
    fill(source, 3)
    put(source, "config/production.json", b"{}", "application/json")
    settings = make_settings(
        [source.name],
        backup.name,
        hook,
        GCS_CRITICAL_FILES=f"config/production.json,gs://{source.name}/assets/item-001.bin,"
        "models/face-analysis-v2.0/model.pb",
    )
    with caplog.at_level(logging.ERROR):
        manifest = run_backup(settings, notifier=quick_notifier(settings))
    assert manifest.status == "failed"
    assert "models/face-analysis-v2.0/model.pb: missing from the snapshot" in (manifest.error or "")
    assert manifest.details["critical"]["verified"] == [
        f"gs://{source.name}/config/production.json",
        f"gs://{source.name}/assets/item-001.bin",
    ]
    [report] = reports(httpserver)
    assert report["status"] == "failed"
    assert "models/face-analysis-v2.0/model.pb" in report["error"]
    assert any("FAILED" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert Catalog(backup, "gcs").backups() == []  # a failed run is never offered for restore


def test_a_critical_file_that_differs_from_the_source_fails_the_run(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """The critical file changes after its shard was copied, before the run finishes."""
    source, backup = buckets
    fill(source, 6)
    put(source, "a-model.pb", b"weights v1")  # sorts first: it is in shard 0
    settings = make_settings(
        [source.name],
        backup.name,
        GCS_SHARD_SIZE="2",
        GCS_CRITICAL_FILES=f"{source.name}/a-model.pb",
    )
    with GcsContext(settings) as ctx:
        shards = list_only(ctx)
        worker.process_shard(ctx, shards[0])
        put(source, "a-model.pb", b"weights v2")
        manifests = [worker.process_shard(ctx, shard) for shard in shards[1:]]
    manifest = manifests[-1]
    assert manifest is not None
    assert manifest.status == "failed"
    assert f"{source.name}/a-model.pb (gs://{source.name}/a-model.pb): differs from the source" in (
        manifest.error or ""
    )


def test_a_malformed_critical_file_entry_fails_the_run_before_any_copy(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    source, backup = buckets
    fill(source, 2)
    settings = make_settings([source.name], backup.name, GCS_CRITICAL_FILES="gs://elsewhere/x.pb")
    manifest = run_backup(settings)
    assert manifest.status == "failed"
    assert "GCS_CRITICAL_FILES: 'gs://elsewhere/x.pb' names bucket 'elsewhere'" in (
        manifest.error or ""
    )
    assert copies(storage_client, backup.name) == set()


# --- delivery, interruption, concurrent change -----------------------------------------------------


def test_a_shard_delivered_twice_changes_nothing(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    source, backup = buckets
    fill(source, 9)
    settings = make_settings([source.name], backup.name, GCS_SHARD_SIZE="3")
    with GcsContext(settings) as ctx:
        shards = list_only(ctx)
        worker.process_shard(ctx, shards[0])
        after_first = backup_objects(storage_client, backup.name)
        assert worker.process_shard(ctx, shards[0]) is None  # redelivered before the end
        assert backup_objects(storage_client, backup.name) == after_first
        for shard in shards[1:]:
            manifest = worker.process_shard(ctx, shard)
        assert manifest is not None
        assert manifest.ok
        complete = backup_objects(storage_client, backup.name)
        assert worker.process_shard(ctx, shards[1]) is None  # redelivered after the end
    assert backup_objects(storage_client, backup.name) == complete
    assert manifest.counts["copied"] == 9


def test_a_run_killed_halfway_is_not_a_backup_and_the_next_run_completes(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """The next run copies the first shard's objects to the same paths again.

    On Cloud Storage those copies meet ``if_generation_match=0`` and are kept
    after a checksum comparison (``test_gcs_faults`` shows that path);
    fake-gcs-server ignores the precondition and writes them again. Both
    leave the same copies and the same snapshot.
    """
    source, backup = buckets
    fill(source, 10)
    settings = make_settings([source.name], backup.name, GCS_SHARD_SIZE="4")
    with GcsContext(settings) as ctx:
        shards = list_only(ctx)
        worker.process_shard(ctx, shards[0])  # then the run dies
    [killed] = Catalog(backup, "gcs").entries()
    assert not killed.complete
    assert "(incomplete)" in killed.describe()
    assert Catalog(backup, "gcs").backups() == []

    manifest = run_backup(settings)
    assert manifest.ok
    assert manifest.counts["objects"] == 10
    assert manifest.details["base_run"] is None  # an incomplete run is never a base
    outcome = restore_bucket(settings, GcsRestoreRequest(source.name, test_mode=True))
    assert outcome.verified
    assert outcome.counts["objects"] == 10


def test_objects_deleted_or_rewritten_during_the_copy(
    storage_client: Any, buckets: tuple[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Between listing and copying, one object is deleted and one rewritten.

    Stands for Cloud Storage answering 404 to a rewrite of a generation that
    no longer exists (the bucket keeps no noncurrent versions).
    """
    source, backup = buckets
    fill(source, 4)
    settings = make_settings([source.name], backup.name)
    with GcsContext(settings) as ctx:
        shards = list_only(ctx)
        source.blob("assets/item-000.bin").delete()
        put(source, "assets/item-001.bin", b"rewritten meanwhile", "text/plain")
        with caplog.at_level(logging.WARNING):
            manifest = worker.process_shard(ctx, shards[0])
    assert manifest is not None
    assert manifest.ok
    assert manifest.details["vanished"] == [f"gs://{source.name}/assets/item-000.bin"]
    assert manifest.details["changed"] == [f"gs://{source.name}/assets/item-001.bin"]
    assert "was deleted during the backup" in caplog.text
    target = unique_bucket_name("restored")
    restore_bucket(settings, GcsRestoreRequest(source.name, target_bucket=target))
    assert state(storage_client, target) == state(storage_client, source.name)


def test_an_unknown_source_bucket_fails_the_run_with_its_name(
    storage_client: Any, buckets: tuple[Any, Any], hook: str, httpserver: HTTPServer
) -> None:
    source, backup = buckets
    missing = unique_bucket_name("gone")
    settings = make_settings([source.name, missing], backup.name, hook)
    manifest = run_backup(settings, notifier=quick_notifier(settings))
    expected = f"source bucket gs://{missing} does not exist (GCS_SOURCE_BUCKETS)"
    assert manifest.status == "failed"
    assert expected in (manifest.error or "")
    [report] = reports(httpserver)
    assert expected in report["error"]
    assert report["details"]["Buckets"] == f"{source.name}, {missing}"  # what was asked for


# --- the end of a run -------------------------------------------------------------------------------


def test_a_run_ends_through_end_backup_with_one_report_of_its_buckets(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """The last shard's completion commits, prunes and reports once; a later completion only reads."""
    source, backup = buckets
    other = storage_client.create_bucket(unique_bucket_name("src2"))
    fill(source, 3)
    fill(other, 2, prefix="models/")
    settings = make_settings(
        [source.name, other.name],
        backup.name,
        GCS_CRITICAL_FILES=f"gs://{other.name}/models/item-001.bin",
    )
    sink = KeptReports()
    manifest = run_backup(settings, clock=Clock(T0), notifier=sink)
    assert manifest.ok
    [report] = sink.sent
    size = {
        bucket: manifest.details["buckets"][bucket]["bytes"] for bucket in (source.name, other.name)
    }
    assert (report.target, report.operation, report.status) == ("gcs", "daily backup", "succeeded")
    assert report.manifest_path == manifest.location.manifest_path
    assert report.counts == manifest.counts
    assert report.size_bytes == manifest.counts["bytes"]  # the data, not the snapshot index
    assert report.details == {
        "Buckets": f"{source.name} (3 objects, {size[source.name]} B, 3 copied), "
        f"{other.name} (2 objects, {size[other.name]} B, 2 copied)",
        "Critical files verified": f"gs://{other.name}/models/item-001.bin",
        "Retention": "no run removed",
    }

    # A second completion of the same run (a racing worker) finds the manifest and ends nothing.
    with GcsContext(settings, clock=Clock(T0 + timedelta(minutes=5)), notifier=sink) as ctx:
        late = replace(manifest, finished=ctx.clock())
        assert end_backup(run_end(ctx), late, report_details(late)) == manifest
    assert len(sink.sent) == 1
    assert [e.backup_id for e in Catalog(backup, "gcs").entries()] == [manifest.location.run_id]


def test_a_dry_run_counts_without_writing(storage_client: Any, buckets: tuple[Any, Any]) -> None:
    source, backup = buckets
    fill(source, 5)
    settings = make_settings([source.name], backup.name)
    run_backup(settings)
    put(source, "assets/item-004.bin", b"new")
    written = backup_objects(storage_client, backup.name)
    with GcsContext(settings) as ctx:
        plan = lister.plan(ctx)
        target: BackupTarget = GcsBackupTarget(ctx, lambda: pytest.fail("a plan starts no shard"))
        lines = target.plan("daily")
    assert plan[source.name] == {
        "objects": 5,
        "bytes": plan[source.name]["bytes"],
        "to_copy": 1,
        "bytes_to_copy": 3,
    }
    assert lines == [
        f"gs://{source.name}: 5 objects ({plan[source.name]['bytes']} B), 1 to copy (3 B)"
    ]
    assert backup_objects(storage_client, backup.name) == written


# --- retention --------------------------------------------------------------------------------------


def runs(backup: Any) -> list[Manifest]:
    return [e.manifest for e in Catalog(backup, "gcs").entries() if e.manifest is not None]


def test_retention_removes_old_snapshots_and_their_copies_but_never_the_newest_good_one(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """Runs are dated from the real clock onwards, because copies carry real creation times."""
    source, backup = buckets
    fill(source, 3)
    put(source, "old/retired.bin", b"deleted from the source after the first backup")
    settings = make_settings([source.name], backup.name, GCS_RETENTION_DAYS="30")
    start = datetime.now(UTC)
    clock = Clock(start)
    first = run_backup(settings, clock=clock)
    source.blob("old/retired.bin").delete()
    clock.now = start + timedelta(days=10)
    second_id = run_backup(settings, clock=clock).location.run_id

    # Still within 30 days: the deleted object is restorable from the first snapshot.
    outcome = restore_bucket(
        settings,
        GcsRestoreRequest(source.name, test_mode=True, version_date=first.started),
    )
    assert outcome.verified
    assert outcome.counts["objects"] == 4
    retired_copy = next(c for c in copies(storage_client, backup.name) if "retired" in c)

    clock.now = start + timedelta(days=100)
    sink = KeptReports()
    third = run_backup(settings, clock=clock, notifier=sink)
    # Retention ran at the run's end, and the sweep after it (the removed run's own copy).
    assert [r.details["Retention"] for r in sink.sent] == [
        "removed 1 run(s), 1 unreferenced copies"
    ]
    # The first snapshot goes; the second, though outside 30 days, is the newest one older
    # than a day, which prune keeps in case the newer one holds damaged data.
    assert [m.location.run_id for m in runs(backup)] == [third.location.run_id, second_id]
    assert retired_copy not in copies(storage_client, backup.name)
    assert len(copies(storage_client, backup.name)) == 3  # the live objects' copies stay

    # A failing run much later: the newest good snapshot is kept whatever its age.
    clock.now = start + timedelta(days=200)
    failing = make_settings(
        [source.name], backup.name, GCS_RETENTION_DAYS="30", GCS_CRITICAL_FILES="not/there.bin"
    )
    assert run_backup(failing, clock=clock).status == "failed"
    assert third.location.run_id in [m.location.run_id for m in runs(backup)]
    outcome = restore_bucket(settings, GcsRestoreRequest(source.name, test_mode=True))
    assert outcome.verified
    assert outcome.counts["objects"] == 3
