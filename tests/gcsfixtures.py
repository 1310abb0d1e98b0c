"""Cloud Storage test helpers and fixtures shared by the ``test_gcs_*`` modules.

Buckets on the session's fake-gcs-server, settings built without the
environment, a clock the test moves, a shard sink that leaves running the
shards (and further listing steps) to the test, and readers of a bucket's
state for comparisons. A module uses a fixture by importing it (and naming
it in ``__all__``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from shared import config
from shared.config import GcsSettings
from shared.gcs import lister, worker
from shared.gcs.context import GcsContext
from shared.gcs.run import ShardRef, TodoItem
from shared.gcs.steps import ListRef
from shared.notify import Backoff, DeliveryResult, Notifier, RunReport
from tests.devstack.storage import unique_bucket_name

T0 = datetime(2025, 3, 25, 3, 0, tzinfo=UTC)
HOOK = "/dr-hook"


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class CollectingSink:
    """A shard sink that records work lists and keeps the shards: the test runs them (or not)."""

    ctx: GcsContext
    shards: list[ShardRef] = field(default_factory=list)
    listings: list[ListRef] = field(default_factory=list)

    def submit(self, shard: ShardRef, items: list[TodoItem]) -> None:
        worker.write_todo(self.ctx, shard, items)
        self.shards.append(shard)

    def resume(self, listing: ListRef) -> None:
        self.listings.append(listing)

    def close(self) -> None:
        pass


@dataclass
class KeptReports:
    """A report sink that keeps every report it is sent: the test reads them."""

    sent: list[RunReport] = field(default_factory=list)

    def send(self, report: RunReport) -> list[DeliveryResult]:
        self.sent.append(report)
        return []


def list_only(ctx: GcsContext) -> list[ShardRef]:
    """Start a run whose shards are recorded but not run: the test runs them, or not."""
    sink = CollectingSink(ctx)
    assert lister.start_backup(ctx, tier="daily", sink=sink) is None
    return sink.shards


def make_settings(
    sources: list[str], backup: str, hook: str | None = None, **keys: str
) -> GcsSettings:
    overrides = {"GCS_SOURCE_BUCKETS": ",".join(sources), "GCS_BACKUP_BUCKET": backup, **keys}
    if hook:
        overrides |= {"NOTIFY_WEBHOOK": hook, "NOTIFY_WEBHOOK_FORMAT": "json"}
    return config.gcs_settings(config.sources(environ={}, overrides=overrides))


def quick_notifier(settings: GcsSettings) -> Notifier:
    return Notifier(settings.notify, backoff=Backoff(attempts=1), sleep=lambda _: None)


def put(
    bucket: Any,
    name: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    **metadata: str,
) -> None:
    blob = bucket.blob(name)
    blob.metadata = metadata or None
    blob.cache_control = "no-cache" if name.endswith(".json") else None
    blob.upload_from_string(data, content_type=content_type)


def state(
    client: Any, bucket: str
) -> dict[str, tuple[bytes, str | None, str | None, dict[str, str]]]:
    """Every object: bytes, content type, cache control, custom metadata."""
    return {
        blob.name: (
            blob.download_as_bytes(),
            blob.content_type,
            blob.cache_control,
            dict(blob.metadata or {}),
        )
        for blob in client.list_blobs(bucket)
    }


def reports(httpserver: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log if request.path == HOOK]


@pytest.fixture
def hook(httpserver: HTTPServer) -> str:
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    return str(httpserver.url_for(HOOK))


@pytest.fixture
def buckets(storage_client: Any, stack_env: Mapping[str, str]) -> tuple[Any, Any]:
    """A fresh source bucket and backup bucket on fake-gcs-server (``stack_env`` set)."""
    return (
        storage_client.create_bucket(unique_bucket_name("src")),
        storage_client.create_bucket(unique_bucket_name("bak")),
    )


def fill(bucket: Any, count: int, prefix: str = "assets/") -> dict[str, bytes]:
    data = {
        f"{prefix}item-{i:03d}.bin": f"object {i} of {bucket.name}".encode() for i in range(count)
    }
    for name, content in data.items():
        put(bucket, name, content, "image/png", owner="vision", index=name[-7:-4])
    return data


def copies(client: Any, backup: str) -> set[str]:
    return {b.name for b in client.list_blobs(backup, prefix="gcs-objects/")}


def backup_objects(client: Any, backup: str) -> dict[str, int]:
    return {b.name: b.generation for b in client.list_blobs(backup)}
