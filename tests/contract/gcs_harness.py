"""The contract harness of Cloud Storage: the two functions' handlers, shards over Pub/Sub.

The backup handler lists the source bucket and publishes shards to a topic on
the Pub/Sub emulator; the harness pulls them and hands each to the shard
handler, as the push subscription does, until no message is left (the last
shard ends the run). Restores run in the dispatcher, synchronously.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from shared.events import PubSubMessage
from shared.gcs import handlers
from shared.registry import registry
from tests.conftest import patched_environ
from tests.contract.harness import Common, Restores, objects_of, scheduler_message
from tests.devstack.storage import unique_bucket_name


class GcsHarness:
    name = "gcs"

    def __init__(self, common: Common, pubsub: Any, subscription: str) -> None:
        self.proxy = common.proxy
        self.client = common.storage_client
        self.pubsub, self.subscription = pubsub, subscription
        self.source = self.client.create_bucket(unique_bucket_name("gcs-src"))
        self.backup_bucket = self.client.create_bucket(unique_bucket_name("gcs-bak"))
        for n in range(24):
            blob = self.source.blob(f"frames/{n // 10:02d}/frame-{n:03d}.png")
            blob.metadata = {"sku": f"EW-{n:05d}"}
            blob.upload_from_string(f"frame {n}".encode() * 40, content_type="image/png")
        self.restores = Restores(common.state_bucket, registry)

    def env(self, topic: str) -> dict[str, str]:
        return {
            "GCS_PROJECT_ID": self.pubsub.project,
            "GCS_SOURCE_BUCKETS": self.source.name,
            "GCS_BACKUP_BUCKET": self.backup_bucket.name,
            "GCS_SHARD_SIZE": "20",  # two shards: the last one ends the run
            "DR_GCS_SHARD_TOPIC": self.pubsub.topic_path(topic),
            **self.pubsub.env(),
        }

    def _shards(self) -> Iterator[PubSubMessage]:
        """The shard topic's messages until it is quiet (each handled before the next pull)."""
        while batch := self.pubsub.pull(self.subscription, expect=1, timeout=0.5):
            for message in batch:
                yield PubSubMessage(message["data"], message["messageId"])

    def deliver_backup(self, message: PubSubMessage) -> None:
        handlers.on_backup_message(message)
        for shard in self._shards():
            handlers.on_shard_message(shard)

    def kill_midway(self) -> str:
        """The run is listed and sharded; its shard workers die, so no shard ever runs."""
        before = {name.split("/")[3] for name in objects_of(self.backup_bucket, "gcs/")}
        handlers.on_backup_message(scheduler_message({"tier": "daily"}))
        for _ in self._shards():
            pass  # delivered to a worker that was killed before it did anything
        (run_id,) = {n.split("/")[3] for n in objects_of(self.backup_bucket, "gcs/")} - before
        return run_id

    def production_request(self) -> dict[str, Any]:
        return {"target": "gcs", "source_bucket": self.source.name}

    def test_request(self) -> dict[str, Any]:
        return {**self.production_request(), "test_mode": True}

    def source_state(self) -> Any:
        return objects_of(self.source)

    def leftovers(self) -> set[str]:
        return {bucket.name for bucket in self.client.list_buckets()}


@contextlib.contextmanager
def running(common: Common) -> Iterator[GcsHarness]:
    pubsub = common.fixture("pubsub_emulator")
    topic = f"contract-shards-{uuid.uuid4().hex[:8]}"
    pubsub.create_topic(topic)
    pubsub.create_subscription(topic, topic)
    harness = GcsHarness(common, pubsub, topic)
    with patched_environ(harness.env(topic)):
        yield harness
    pubsub.delete_subscription(topic)
