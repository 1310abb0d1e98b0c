"""Cloud Storage failing under a backup or restore: 503/429 retried, persistent errors loud.

fake-gcs-server cannot inject faults, so the recording proxy of
``tests.gcsproxy`` stands in front of it and answers chosen requests with an
error status instead, the first N times they are seen.
"""

from __future__ import annotations

from typing import Any

from pytest_httpserver import HTTPServer

from shared.gcs import worker
from shared.gcs.backup import run_backup
from shared.gcs.bucket_restore import restore_bucket
from shared.gcs.context import GcsContext
from shared.gcs.request import GcsRestoreRequest
from tests.gcsfixtures import (
    buckets,
    fill,
    hook,
    list_only,
    make_settings,
    quick_notifier,
    reports,
)
from tests.gcsproxy import StorageProxy, proxy

__all__ = ["buckets", "hook", "proxy"]  # fixtures, imported for use here


def test_503_and_429_are_retried_and_the_backup_and_restore_succeed(
    storage_client: Any, buckets: tuple[Any, Any], proxy: StorageProxy
) -> None:
    source, backup = buckets
    fill(source, 6)
    settings = make_settings([source.name], backup.name, GCS_SHARD_SIZE="2")
    injected = [
        proxy.add("GET", rf"/b/{source.name}/o\?", 429, times=1),  # the source listing
        proxy.add("POST", r"/rewriteTo/", 503, times=3),  # copies
        proxy.add("GET", r"%2Fdone%2F", 503, times=1),  # a shard result
    ]
    manifest = run_backup(settings)
    assert manifest.ok
    assert manifest.counts["copied"] == 6
    assert [fault.served for fault in injected] == [1, 3, 1]

    restore_fault = proxy.add("POST", r"/rewriteTo/", 503, times=2)
    outcome = restore_bucket(settings, GcsRestoreRequest(source.name, test_mode=True))
    assert outcome.verified
    assert restore_fault.served == 2


def test_an_object_that_cannot_be_copied_fails_the_run_loudly_naming_it(
    storage_client: Any,
    buckets: tuple[Any, Any],
    proxy: StorageProxy,
    hook: str,
    httpserver: HTTPServer,
) -> None:
    source, backup = buckets
    fill(source, 4)
    settings = make_settings([source.name], backup.name, hook)
    proxy.add("POST", r"item-002\.bin/rewriteTo/", 403)  # not retryable: fails at once
    manifest = run_backup(settings, notifier=quick_notifier(settings))
    assert manifest.status == "failed"
    assert manifest.counts["failed"] == 1
    assert f"gs://{source.name}/assets/item-002.bin: Forbidden" in (manifest.error or "")
    [report] = reports(httpserver)
    assert report["status"] == "failed"
    assert "item-002.bin" in report["error"]


def test_a_shard_that_keeps_crashing_is_recorded_as_failed(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """Each crashed delivery (killed before recording a result) leaves its attempt counted."""
    source, backup = buckets
    fill(source, 3)
    settings = make_settings([source.name], backup.name)
    with GcsContext(settings) as ctx:
        shards = list_only(ctx)
        for _ in range(worker.MAX_ATTEMPTS):  # deliveries that died mid-copy
            worker.count_attempt(ctx, shards[0])
        manifest = worker.process_shard(ctx, shards[0])
    assert manifest is not None
    assert manifest.status == "failed"
    assert f"attempted {worker.MAX_ATTEMPTS} times without completing" in (manifest.error or "")


def test_a_copy_that_already_exists_is_checked_and_kept(
    storage_client: Any, buckets: tuple[Any, Any], proxy: StorageProxy
) -> None:
    """Cloud Storage answers 412 to a copy whose destination exists (``if_generation_match=0``).

    A run killed after its first shard leaves copies behind; the next run
    copies the same generations to the same paths. fake-gcs-server ignores
    the precondition and would overwrite, so the proxy answers 412 for those
    copies the way Cloud Storage does, and the copies are compared and kept.
    """
    source, backup = buckets
    fill(source, 4)
    settings = make_settings([source.name], backup.name, GCS_SHARD_SIZE="2")
    with GcsContext(settings) as ctx:
        shards = list_only(ctx)
        worker.process_shard(ctx, shards[0])  # item-000 and item-001 copied; then killed
    exists = proxy.add("POST", r"item-00[01]\.bin/rewriteTo/", 412, times=2)
    manifest = run_backup(settings)
    assert manifest.ok
    assert manifest.counts["copied"] == 4
    assert exists.served == 2
    outcome = restore_bucket(settings, GcsRestoreRequest(source.name, test_mode=True))
    assert outcome.verified


def test_an_existing_copy_with_other_bytes_is_never_trusted(
    storage_client: Any, buckets: tuple[Any, Any], proxy: StorageProxy
) -> None:
    source, backup = buckets
    fill(source, 2)
    generation = source.get_blob("assets/item-000.bin").generation
    backup.blob(f"gcs-objects/{source.name}/{generation}/assets/item-000.bin").upload_from_string(
        b"planted"
    )
    proxy.add("POST", r"item-000\.bin/rewriteTo/", 412)
    manifest = run_backup(make_settings([source.name], backup.name))
    assert manifest.status == "failed"
    assert "holds 7 bytes" in (manifest.error or "")
