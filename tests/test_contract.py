"""The lifecycle contract: every target, the same tests, on the real local servers.

Each test runs against the three product targets and the test-only
``objects`` target (:mod:`tests.contract.objects`), each driven through its
public entry points by its harness (:mod:`tests.contract`). A new target
passes the contract by adding a harness to ``HARNESSES``.

The harnesses are module-scoped (one set of buckets, databases and stand-ins
per target), so the tests of one target share its backups: the restore tests
share one baseline backup, the others make the runs they check, and every
test compares before and after. A killed run is killed where the target can
die: the MongoDB job is SIGKILLed while its manifest create is on the wire,
Cloud Storage shard workers die before any shard runs, Firestore's
completion step never comes, the ``objects`` run's manifest create never
lands. That test is last, since a later completion step could end the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import storage
from shared.catalog import CatalogEntry
from shared.manifest import MANIFEST_NAME, TARGETS, RunLocation, new_run_id
from shared.restore.ending import exit_code_for
from tests.conftest import patched_environ
from tests.contract import firestore_harness, gcs_harness, mongodb_harness, objects_harness
from tests.contract.harness import (
    Common,
    TargetHarness,
    backup,
    catalog,
    manifest_create,
    objects_of,
    scheduler_message,
)
from tests.devstack.storage import FakeGcsServer, unique_bucket_name
from tests.gcsproxy import StorageProxy, serving

pytest_plugins = ["tests.firestore_fixtures"]

HARNESSES: dict[str, Callable[[Common], AbstractContextManager[TargetHarness]]] = {
    "mongodb": mongodb_harness.running,
    "firestore": firestore_harness.running,
    "gcs": gcs_harness.running,
    "objects": objects_harness.running,
}


def test_every_product_target_has_a_harness() -> None:
    assert set(TARGETS) <= set(HARNESSES), "add a harness to HARNESSES for each target"


@pytest.fixture(scope="module")
def contract_proxy(gcs_server: FakeGcsServer) -> Iterator[StorageProxy]:
    """Every target's Cloud Storage traffic goes through this proxy for the module."""
    with (
        serving(gcs_server.url) as recorder,
        patched_environ({**gcs_server.env(), "STORAGE_EMULATOR_HOST": recorder.url}),
    ):
        yield recorder


@pytest.fixture(scope="module")
def state_bucket(storage_client: Any, contract_proxy: StorageProxy) -> Any:
    return storage_client.create_bucket(unique_bucket_name("contract-state"))


@pytest.fixture(scope="module", params=list(HARNESSES))
def harness(
    request: pytest.FixtureRequest,
    storage_client: Any,
    contract_proxy: StorageProxy,
    state_bucket: Any,
) -> Iterator[TargetHarness]:
    """The target's harness, running for the module (its servers asked of ``request``)."""
    common = Common(storage_client, contract_proxy, state_bucket, request.getfixturevalue)
    with HARNESSES[request.param](common) as running:
        yield running


@pytest.fixture(scope="module")
def backed_up(harness: TargetHarness) -> CatalogEntry:
    """One good daily backup of the target, for the tests that restore or plan."""
    entry = backup(harness)
    assert entry.ok, entry.describe()
    return entry


def _manifests(harness: TargetHarness, run_id: str) -> list[str]:
    return [
        name
        for name in objects_of(harness.backup_bucket)
        if f"/{run_id}/" in name and name.endswith("/" + MANIFEST_NAME)
    ]


def test_a_backup_commits_exactly_one_manifest(harness: TargetHarness) -> None:
    entry = backup(harness)
    assert entry.ok, entry.describe()
    assert _manifests(harness, entry.backup_id) == [entry.location.manifest_path]
    assert entry.backup_id in [e.backup_id for e in catalog(harness).backups("daily")]


def test_a_commit_whose_response_was_lost_is_retried_and_succeeds(
    harness: TargetHarness,
) -> None:
    lost = harness.proxy.add(
        **manifest_create(harness.backup_bucket.name), status=503, times=1, lost=True
    )
    try:
        entry = backup(harness)
    finally:
        harness.proxy.faults.remove(lost)
    assert lost.served == 1, "the manifest create was never seen"
    assert entry.ok, entry.describe()
    assert _manifests(harness, entry.backup_id) == [entry.location.manifest_path]


def test_retention_never_removes_the_newest_good_backup(harness: TargetHarness) -> None:
    """A weekly run's end prunes the weekly series; the newest good older backup stays.

    Two weekly backups far past every window, 200 days apart (restic's
    ``within`` counts from the newest backup, so the older one is outside
    any window counted from the other): the policy alone would remove both,
    the guard rail keeps the newer one, which a damaged newest run could
    otherwise push out.
    """
    model = backup(harness, "weekly")
    now = datetime.now(UTC)
    older, newer = (_copy_run(harness, model.location, now - timedelta(days=d)) for d in (600, 400))
    fresh = backup(harness, "weekly")  # its end applies retention
    weekly = {e.backup_id: e for e in catalog(harness).entries("weekly")}
    assert fresh.backup_id in weekly, sorted(weekly)
    assert newer.run_id in weekly, sorted(weekly)
    assert weekly[newer.run_id].ok
    assert older.run_id not in weekly, "retention did not run: the older one is still there"


def _copy_run(harness: TargetHarness, model: RunLocation, when: datetime) -> RunLocation:
    """A copy of ``model``'s run, as a weekly run started at ``when`` (manifest last)."""
    bucket = harness.backup_bucket
    location = RunLocation(model.prefix, model.target, "weekly", new_run_id(when))
    for name in objects_of(bucket, model.directory):
        if not name.endswith(MANIFEST_NAME):
            bucket.copy_blob(bucket.blob(name), bucket, location.path(name[len(model.directory) :]))
    found = storage.read_json(bucket, model.manifest_path)
    assert found is not None
    moved = {**found[0], "tier": "weekly", "run_id": location.run_id}
    moved |= {"started": when.isoformat(), "finished": when.isoformat()}
    storage.create_json(bucket, location.manifest_path, moved)
    return location


def test_a_plan_writes_nothing(
    harness: TargetHarness, backed_up: CatalogEntry, state_bucket: Any
) -> None:
    before = (
        objects_of(harness.backup_bucket),
        harness.source_state(),
        objects_of(state_bucket, "locks/"),
    )
    harness.deliver_backup(scheduler_message({"tier": "daily", "dry_run": True}))
    record = harness.restores.deliver({**harness.production_request(), "dry_run": True})
    assert record.phase == "Planned", record.data
    assert exit_code_for(record.data) == 0
    after = (
        objects_of(harness.backup_bucket),
        harness.source_state(),
        objects_of(state_bucket, "locks/"),
    )
    assert after == before


def test_an_unconfirmed_production_restore_writes_nothing(
    harness: TargetHarness, backed_up: CatalogEntry, state_bucket: Any
) -> None:
    before = (harness.source_state(), objects_of(harness.backup_bucket), harness.leftovers())
    record = harness.restores.deliver(harness.production_request())
    assert record.phase == "Refused", record.data
    assert exit_code_for(record.data) == 73
    assert record.data.get("confirm"), "the refusal names the confirm to send"
    assert "InProgress" not in [p["phase"] for p in record.data["phases"]]
    assert (
        harness.source_state(),
        objects_of(harness.backup_bucket),
        harness.leftovers(),
    ) == before
    assert objects_of(state_bucket, "locks/") == {}


def test_a_test_mode_restore_leaves_nothing_behind(
    harness: TargetHarness, backed_up: CatalogEntry, state_bucket: Any
) -> None:
    before = (harness.source_state(), harness.leftovers())
    record = harness.restores.deliver(harness.test_request())
    assert record.phase == "Completed", record.data
    assert record.data["result"]["mode"] == "test"
    assert record.data["result"]["verified"] is True
    assert (harness.source_state(), harness.leftovers()) == before
    assert objects_of(state_bucket, "locks/") == {}


def test_a_redelivered_backup_trigger_runs_once(harness: TargetHarness) -> None:
    before = {e.backup_id for e in catalog(harness).entries()}
    message = scheduler_message({"tier": "daily"})
    harness.deliver_backup(message)
    harness.deliver_backup(message)
    new = [e for e in catalog(harness).entries() if e.backup_id not in before]
    assert [e.ok for e in new] == [True], [e.describe() for e in new]
    assert len(_manifests(harness, new[0].backup_id)) == 1


def test_a_redelivered_restore_request_runs_once(
    harness: TargetHarness, backed_up: CatalogEntry
) -> None:
    body = {**harness.test_request(), "request_id": f"contract-{harness.name}-redelivered"}
    first = harness.restores.deliver(body, message_id="redelivered-1")
    again = harness.restores.deliver(body, message_id="redelivered-1")
    assert first.phase == again.phase == "Completed", again.data
    assert again.data["phases"] == first.data["phases"]
    assert [p["phase"] for p in again.data["phases"]].count("InProgress") == 1


def test_a_killed_run_leaves_no_manifest_and_is_listed_incomplete(
    harness: TargetHarness,
) -> None:
    run_id = harness.kill_midway()
    (entry,) = [e for e in catalog(harness).entries() if e.backup_id == run_id]
    assert not entry.complete, entry.describe()
    assert entry.object_names, "a killed run leaves what it wrote before the commit"
    assert _manifests(harness, run_id) == []
    assert run_id not in [e.backup_id for e in catalog(harness).backups()]
