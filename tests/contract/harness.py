"""What the contract suite needs of a target, and the parts every harness shares.

A :class:`TargetHarness` drives one target on the local servers through its
public entry points only (its Pub/Sub handlers, the MongoDB job, the
``dr-restore`` dispatcher with the registry, the catalog), so the suite
checks behaviour, not internals: a target whose modules are renamed keeps
passing, a target that breaks the lifecycle fails.

Every harness keeps its runs in a backup bucket of its own, and all of them
talk to Cloud Storage through one recording proxy (:mod:`tests.gcsproxy`),
so a test can lose a response or refuse a write at the HTTP level.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shared import config
from shared.catalog import Catalog, CatalogEntry
from shared.events import PubSubMessage, trigger_run_id
from shared.restore.dispatch import dispatch
from shared.restore.status import StatusRecord, StatusStore
from shared.target import Registered
from tests.gcsproxy import StorageProxy
from tests.polling import wait_until


@dataclass(frozen=True)
class Common:
    """What every harness gets: the session's client, the module's proxy and state bucket.

    ``fixture`` asks pytest for a fixture by name (the servers a target needs),
    so only the targets that run start their servers.
    """

    storage_client: Any
    proxy: StorageProxy
    state_bucket: Any
    fixture: Callable[[str], Any]


class TargetHarness(Protocol):
    """One target on the local servers, as the contract suite drives it."""

    name: str
    backup_bucket: Any  # where the target's runs are committed
    proxy: StorageProxy  # every Cloud Storage request of the target passes through it
    restores: Restores  # publishes ``dr-restore`` requests and waits for their end

    def deliver_backup(self, message: PubSubMessage) -> None:
        """Hand a scheduler message to the target and drive what it starts to its end."""
        ...

    def kill_midway(self) -> str:
        """Start a run and stop it before its commit; its run id."""
        ...

    def production_request(self) -> dict[str, Any]:
        """A restore into the production destination, without ``confirm``."""
        ...

    def test_request(self) -> dict[str, Any]:
        """A test-mode restore of the newest backup."""
        ...

    def source_state(self) -> Any:
        """The source data, comparable with ``==`` (what a restore could overwrite)."""
        ...

    def leftovers(self) -> set[str]:
        """Scratch destinations that exist now (test-mode buckets, databases, prefixes)."""
        ...


def scheduler_message(body: Mapping[str, Any]) -> PubSubMessage:
    """A message as Cloud Scheduler publishes it: a fresh id, published now."""
    return PubSubMessage(
        data=json.dumps(dict(body)).encode(),
        message_id=uuid.uuid4().hex,
        publish_time=datetime.now(UTC).isoformat(),
    )


def backup(harness: TargetHarness, tier: str = "daily") -> CatalogEntry:
    """Run one backup to its end through the scheduler message; its catalog entry."""
    before = {entry.backup_id for entry in catalog(harness).entries()}
    harness.deliver_backup(scheduler_message({"tier": tier}))
    (entry,) = [e for e in catalog(harness).entries() if e.backup_id not in before]
    return entry


def catalog(harness: TargetHarness) -> Catalog:
    return Catalog(harness.backup_bucket, harness.name)


def objects_of(bucket: Any, prefix: str = "") -> dict[str, int]:
    """Every object under ``prefix`` with its generation: equal only if nothing was written."""
    return {blob.name: blob.generation for blob in bucket.client.list_blobs(bucket, prefix=prefix)}


class Restores:
    """Plays ``dr_restore``: the message to :func:`~shared.restore.dispatch.dispatch`, then waits.

    ``targets`` builds the registry for the store (the product's, or one a
    test target extends); ``complete`` drives a target's completion step
    (the Firestore scheduler tick) while an asynchronous restore runs.
    """

    def __init__(
        self,
        state_bucket: Any,
        targets: Callable[[StatusStore], Mapping[str, Registered]],
        complete: Callable[[], None] = lambda: None,
    ) -> None:
        overrides = {"DR_STATE_BUCKET": state_bucket.name, "DR_LOCK_TTL_MINUTES": "30"}
        self.settings = config.restore_settings(config.sources(environ={}, overrides=overrides))
        self.store = StatusStore(state_bucket)
        self.targets = targets
        self.complete = complete

    def deliver(self, body: Mapping[str, Any], message_id: str | None = None) -> StatusRecord:
        message = PubSubMessage(json.dumps(dict(body)).encode(), message_id or uuid.uuid4().hex)
        record = dispatch(message, self.settings, self.store, self.targets(self.store))

        def ended() -> StatusRecord | None:
            current = self.store.get(record.request_id)
            if current is not None and current.final:
                return current
            self.complete()
            return None

        ended_record: StatusRecord = wait_until(
            ended, 120, f"restore {record.request_id}", interval=0.3
        )
        return ended_record


@contextlib.contextmanager
def commit_refused(proxy: StorageProxy, bucket: str) -> Iterator[tuple[PubSubMessage, str]]:
    """A scheduler message, and its run id, whose run dies at its commit point.

    The manifest create of that run never reaches the bucket (refused, not
    retryable), as if the process were killed just before it: what the run
    wrote stays, its manifest does not exist.
    """
    message = scheduler_message({"tier": "daily"})
    run_id = trigger_run_id(message, datetime.now(UTC))
    fault = proxy.add(**manifest_create(bucket, run_id), status=403)
    try:
        yield message, run_id
    finally:
        proxy.faults.remove(fault)


def manifest_create(bucket: str, run_id: str = "") -> dict[str, Any]:
    """Proxy fault arguments matching the create of a manifest in ``bucket`` (of one run)."""
    name = rb'"name": ?"[^"]*' + run_id.encode() + rb'[^"]*/manifest\.json"'
    return {"method": "POST", "path": rf"^/upload/storage/v1/b/{bucket}/o", "body": name}
