"""The contract harness of the test-only ``objects`` target (:mod:`tests.contract.objects`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from shared.config import NotifySettings, TierRetention
from shared.errors import PermissionDenied
from shared.events import PubSubMessage
from shared.manifest import SCHEDULED_TIERS
from shared.retention import Policy, Span
from tests.contract.harness import Common, Restores, commit_refused, objects_of
from tests.contract.objects import TARGET, handlers
from tests.contract.objects.request import SCRATCH
from tests.contract.objects.target import ObjectsSettings
from tests.devstack.storage import unique_bucket_name

PREFIX = "catalogue/"


class ObjectsHarness:
    name = TARGET

    def __init__(self, common: Common) -> None:
        self.proxy = common.proxy
        self.source = common.storage_client.create_bucket(unique_bucket_name("objects-src"))
        backup_bucket = common.storage_client.create_bucket(unique_bucket_name("objects-bak"))
        self.backup_bucket = backup_bucket
        for n in range(12):
            self.source.blob(f"{PREFIX}frame-{n:02d}.json").upload_from_string(f'{{"n": {n}}}')
        within = Policy(within=Span(days=30))
        self.settings = ObjectsSettings(
            source_bucket=self.source.name,
            source_prefix=PREFIX,
            backup_bucket=self.backup_bucket.name,
            retention=TierRetention({tier: within for tier in SCHEDULED_TIERS}),
            notify=NotifySettings(),
        )
        self.restores = Restores(
            common.state_bucket, lambda store: handlers.with_objects(store, self.settings)
        )

    def deliver_backup(self, message: PubSubMessage) -> None:
        handlers.on_backup_message(message, self.settings)

    def kill_midway(self) -> str:
        """The run dies at its commit point: the manifest create never reaches the bucket."""
        with (
            commit_refused(self.proxy, self.backup_bucket.name) as (message, run_id),
            contextlib.suppress(PermissionDenied),
        ):
            handlers.on_backup_message(message, self.settings)
        return run_id

    def production_request(self) -> dict[str, Any]:
        return {"target": TARGET}

    def test_request(self) -> dict[str, Any]:
        return {"target": TARGET, "test_mode": True}

    def source_state(self) -> Any:
        return objects_of(self.source)

    def leftovers(self) -> set[str]:
        return set(objects_of(self.source, SCRATCH))


@contextlib.contextmanager
def running(common: Common) -> Iterator[ObjectsHarness]:
    yield ObjectsHarness(common)
