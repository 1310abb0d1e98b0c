"""The Cloud Storage functions as deployed: a scheduler message fans out through real Pub/Sub.

``gcs_backup`` and ``gcs_copy_shard`` from ``functions/main.py`` run under
functions-framework with push subscriptions on the Pub/Sub emulator, as on
Google Cloud: the backup function lists and publishes shards to
``dr-gcs-shards``, each shard is pushed to the worker function, and the last
one to finish writes the manifest. The listing itself is cut into steps (a
tiny page size and page limit here), which go on as listing messages on the
same topic. The recorded push bodies under
``tests/data/events`` drive the same entry points in-process.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from pytest_httpserver import HTTPServer

from shared import config
from shared.catalog import Catalog
from shared.errors import ConfigError
from shared.gcs.handlers import shard_topic
from shared.gcs.run import ShardRef, done_prefix
from tests.devstack.functions import FunctionGroup, FunctionSpec
from tests.devstack.storage import unique_bucket_name
from tests.gcsfixtures import HOOK, backup_objects, fill, reports
from tests.polling import wait_until

EVENTS = Path(__file__).parent / "data" / "events"
MAIN = Path(__file__).parents[1] / "functions" / "main.py"
SHARD_SIZE = 3
OBJECTS = 20
LIST_PAGE_SIZE, LIST_PAGES = 4, 2  # listing steps of 8 objects: 8, 8 and 4


@dataclass(frozen=True)
class Deployment:
    group: FunctionGroup
    source: Any
    backup: Any

    def log(self, target: str) -> str:
        return self.group.server(target).log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def deployed(
    function_stack: Callable[..., FunctionGroup], storage_client: Any, make_httpserver: HTTPServer
) -> Deployment:
    source = storage_client.create_bucket(unique_bucket_name("fn-src"))
    backup = storage_client.create_bucket(unique_bucket_name("fn-bak"))
    fill(source, OBJECTS)
    env = {
        "GCS_SOURCE_BUCKETS": source.name,
        "GCS_BACKUP_BUCKET": backup.name,
        "GCS_SHARD_SIZE": str(SHARD_SIZE),
        "GCS_LIST_PAGE_SIZE": str(LIST_PAGE_SIZE),
        "GCS_LIST_PAGES": str(LIST_PAGES),
        "GCS_CRITICAL_FILES": "assets/item-007.bin",
        "NOTIFY_WEBHOOK": make_httpserver.url_for(HOOK),
        "NOTIFY_WEBHOOK_FORMAT": "json",
    }
    group = function_stack(
        [
            FunctionSpec("gcs_backup", ("dr-gcs-backup",), env=env),
            FunctionSpec("gcs_copy_shard", ("dr-gcs-shards",), env=env),
        ],
        services=("storage",),
    )
    return Deployment(group, source, backup)


def test_a_scheduler_message_fans_out_to_shard_workers_and_one_manifest(
    deployed: Deployment, pubsub_emulator: Any, storage_client: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    scheduled = load_event("gcs_backup_push.json")["message"]["data"]  # {"tier": "daily"}
    pubsub_emulator.publish("dr-gcs-backup", base64.b64decode(scheduled))
    catalog = Catalog(deployed.backup, "gcs")
    [entry] = wait_until(catalog.backups, timeout=60, what="the manifest written by the last shard")
    manifest = entry.manifest
    assert manifest is not None
    assert manifest.ok
    shards = 3 + 3 + 2  # shards never span listing steps
    assert manifest.counts["shards"] == shards
    assert manifest.counts["objects"] == OBJECTS
    done = list(storage_client.list_blobs(deployed.backup, prefix=done_prefix(entry.location)))
    assert len(done) == shards
    workers = deployed.log("gcs_copy_shard")
    assert (
        sum(f"shard {n} of gs://{deployed.source.name}" in workers for n in range(shards)) == shards
    )
    for step in (1, 2):  # the listing went on in listing messages, one invocation each
        assert f"listing step {step} of gs://{deployed.source.name}" in workers
    assert [r["status"] for r in wait_until(lambda: reports(httpserver), what="the report")] == [
        "succeeded"
    ]

    # The same shard delivered again: nothing is copied, written or reported twice.
    before = backup_objects(storage_client, deployed.backup.name)
    again = ShardRef(entry.location, deployed.source.name, 2)
    pubsub_emulator.publish("dr-gcs-shards", again.to_message())
    wait_until(lambda: "has already ended" in deployed.log("gcs_copy_shard"), what="redelivery")
    assert backup_objects(storage_client, deployed.backup.name) == before
    assert len(catalog.entries()) == 1
    time.sleep(0.5)  # a second report would have been sent by now
    assert len(reports(httpserver)) == 1


def load_event(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return body


@pytest.mark.parametrize(
    ("target", "event", "logged", "level"),
    [
        ("gcs_backup", "gcs_backup_dry_run_push.json", "dry run: {'", logging.INFO),
        (
            "gcs_copy_shard",
            "gcs_shard_malformed_push.json",
            "RequestError: shard 'first' is not a shard number",
            logging.ERROR,
        ),
        (
            "gcs_copy_shard",
            "gcs_shard_unknown_run_push.json",
            "RequestError: shard 0 of gs://eyewearml-assets in run 20250325T030000Z-0123abcd: its "
            "work list",
            logging.ERROR,
        ),
    ],
)
def test_recorded_push_bodies_drive_the_entry_points(
    target: str,
    event: str,
    logged: str,
    level: int,
    storage_client: Any,
    stack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = storage_client.create_bucket(unique_bucket_name("ev-src"))
    backup = storage_client.create_bucket(unique_bucket_name("ev-bak"))
    fill(source, 2)
    monkeypatch.setenv("GCS_SOURCE_BUCKETS", source.name)
    monkeypatch.setenv("GCS_BACKUP_BUCKET", backup.name)
    app = functions_framework.create_app(  # type: ignore[no-untyped-call]
        target=target, source=str(MAIN), signature_type="cloudevent"
    )
    with caplog.at_level(logging.INFO):
        answer = app.test_client().post("/", json=load_event(event))
    assert answer.status_code == 200  # a bad message is acknowledged, not redelivered forever
    assert any(logged in r.getMessage() and r.levelno == level for r in caplog.records)
    assert list(storage_client.list_blobs(backup)) == []  # neither writes anything


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"GOOGLE_CLOUD_PROJECT": "fn-project"}, "projects/fn-project/topics/dr-gcs-shards"),
        ({"GCS_PROJECT_ID": "data-project"}, "projects/data-project/topics/dr-gcs-shards"),
        (
            {"DR_GCS_SHARD_TOPIC": "projects/dr-project/topics/shards"},
            "projects/dr-project/topics/shards",
        ),
        ({}, "no project for the shard topic: set GOOGLE_CLOUD_PROJECT or GCS_PROJECT_ID"),
        ({"GOOGLE_CLOUD_PROJECT": "Not A Project"}, "GOOGLE_CLOUD_PROJECT"),
    ],
)
def test_the_shard_topic_takes_the_functions_project_from_its_settings(
    environ: dict[str, str], expected: str
) -> None:
    """The project comes through the frozen settings; a bad value names its key."""
    buckets = {"GCS_SOURCE_BUCKETS": "source-bucket", "GCS_BACKUP_BUCKET": "backup-bucket"}
    src = config.sources(environ={**buckets, **environ})
    if expected.startswith("projects/"):
        assert shard_topic(config.gcs_settings(src)) == expected
    else:
        with pytest.raises(ConfigError, match=expected):
            shard_topic(config.gcs_settings(src))
