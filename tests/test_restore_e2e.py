"""dr-restore end to end: the guide's restore commands, published with the real gcloud CLI.

One stack for the module, deployed as production is: six functions behind
Pub/Sub push subscriptions, the MongoDB job through the Cloud Run API stand-in,
Firestore exports and imports through the Admin API stand-in, the key in the
Secret Manager stand-in, reports to a real SMTP server and webhook receiver.
Backups are made the way Cloud Scheduler makes them (a message per target).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import eyewear
from tests.polling import wait_until

CORPUS = Path(__file__).parent / "data" / "restore" / "malformed.jsonl"


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, require_installed: Any
) -> Iterator[eyewear.Platform]:
    require_installed(*eyewear.STACK_SERVICES, "functions")
    backups = (
        ("gcs", "daily"),
        ("firestore", "daily"),
        ("mongodb", "daily"),
        ("mongodb", "hourly"),
    )
    with eyewear.running_platform(tmp_path_factory.mktemp("platform"), backups) as platform:
        yield platform


def _hourly(platform: eyewear.Platform) -> tuple[str, int]:
    (entry,) = [e for e in platform.backups("mongodb") if e.location.tier == "hourly"]
    return entry.time.date().isoformat(), entry.time.hour


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


# Each command of the guide, one for one (test mode where the guide uses it). Production
# overwrites carry the confirmation the README's examples carry; restoring over existing
# MongoDB collections also says "drop" (mongorestore --drop): nothing is replaced unasked.
GUIDE: dict[str, dict[str, Any]] = {
    "mongodb_restore.sh --date D --type daily --test-mode":
        {"target": "mongodb", "date": "D", "type": "daily", "test_mode": True},
    "mongodb_restore.sh --date D --type daily":
        {"target": "mongodb", "date": "D", "type": "daily", "drop": True,
         "confirm": eyewear.DB_NAME},
    "mongodb_restore.sh --date D --hour H --type hourly":
        {"target": "mongodb", "date": "D", "hour": "H", "type": "hourly", "drop": True,
         "confirm": eyewear.DB_NAME},
    "mongodb_restore.sh --date D --target-db eyewear_ml_restored":
        {"target": "mongodb", "date": "D", "target_db": "eyewear_ml_restored"},
    "firestore_restore.sh --date D --test-mode":
        {"target": "firestore", "date": "D", "test_mode": True},
    "firestore_restore.sh --date D":
        {"target": "firestore", "date": "D", "confirm": "PROJECT"},
    "firestore_restore.sh --date D --target-project eyewearml-project-restored":
        {"target": "firestore", "date": "D", "target_project": "eyewearml-project-restored"},
    "gcs_restore.sh --source-bucket eyewearml-assets --test-mode":
        {"target": "gcs", "source_bucket": "eyewearml-assets", "test_mode": True},
    "gcs_restore.sh --source-bucket eyewearml-assets":
        {"target": "gcs", "source_bucket": "eyewearml-assets", "confirm": "eyewearml-assets"},
    "gcs_restore.sh --source-bucket eyewearml-assets --version-date D":
        {"target": "gcs", "source_bucket": "eyewearml-assets", "version_date": "D",
         "confirm": "eyewearml-assets"},
    "gcs_restore.sh --source-bucket eyewearml-assets --target-bucket eyewearml-assets-restored":
        {"target": "gcs", "source_bucket": "eyewearml-assets",
         "target_bucket": "eyewearml-assets-restored"},
}  # fmt: skip


def _fill(body: dict[str, Any], platform: eyewear.Platform) -> dict[str, Any]:
    day, hour = _hourly(platform) if body.get("hour") == "H" else (_today(), None)
    replace = {"D": day, "H": hour, "PROJECT": platform.stack.project}
    return {k: replace.get(v, v) if isinstance(v, str) else v for k, v in body.items()}


@pytest.mark.parametrize("command", list(GUIDE))
def test_each_guide_command_runs_its_restore_and_ends_completed(
    platform: eyewear.Platform, command: str
) -> None:
    body = _fill(GUIDE[command], platform)
    status = platform.restore(body)
    assert status["phase"] == "Completed", json.dumps(status, indent=1)
    result = status["result"]
    assert result["mode"] == ("test" if body.get("test_mode") else "restore")
    assert result["verified"] is True, result
    phases = [p["phase"] for p in status["phases"]]
    assert phases[:3] == ["Accepted", "Validating", "InProgress"]
    assert phases[-1] == "Completed"


def test_an_unconfirmed_production_overwrite_is_only_planned(platform: eyewear.Platform) -> None:
    import pymongo

    client: Any
    with pymongo.MongoClient(platform.settings["MONGODB_URI"]) as client:
        client[eyewear.DB_NAME].marker.insert_one({"_id": "written after the backup"})
        status = platform.restore({"target": "mongodb", "date": _today(), "type": "daily"})
        assert client[eyewear.DB_NAME].marker.find_one({"_id": "written after the backup"})
    assert status["phase"] == "Completed"
    assert status["result"]["mode"] == "plan"
    assert any("NOT RUN" in note for note in status["result"]["notes"])
    assert "InProgress" not in [p["phase"] for p in status["phases"]]


def test_a_duplicate_delivery_runs_once(platform: eyewear.Platform) -> None:
    body = {"target": "gcs", "source_bucket": "eyewearml-data", "test_mode": True,
            "request_id": "drill-duplicate-1"}  # fmt: skip
    first = platform.restore(body)
    platform.publish_restore(body)  # delivered again, e.g. a retried publish
    platform.stack.pubsub.publish("dr-restore", json.dumps(body).encode())
    wait_until(
        lambda: _logged(platform, "drill-duplicate-1 was already received") >= 2, 30, "duplicates"
    )
    again = platform.status("drill-duplicate-1")
    assert again is not None
    assert again["phases"] == first["phases"]
    assert [p["phase"] for p in again["phases"]].count("InProgress") == 1


def _logged(platform: eyewear.Platform, text: str) -> int:
    return sum(
        path.read_text(errors="replace").count(text)
        for path in eyewear.logs_of(platform.stack)
        if "dr_restore" in path.name
    )


def _snapshot(platform: eyewear.Platform) -> tuple[Any, ...]:
    import pymongo

    storage = eyewear.clients_storage()
    objects = sorted(
        (blob.name, blob.generation)
        for name in (*eyewear.SOURCE_BUCKETS, eyewear.BACKUP_BUCKET)
        for blob in storage.list_blobs(name)
    )
    locks = [blob.name for blob in storage.list_blobs(eyewear.STATE_BUCKET, prefix="locks/")]
    client: Any
    with pymongo.MongoClient(platform.settings["MONGODB_URI"]) as client:
        databases = sorted(client.list_database_names())
    return objects, locks, databases


def test_two_hundred_malformed_messages_are_rejected_without_a_crash_or_a_write(
    platform: eyewear.Platform,
) -> None:
    bodies = [
        base64.b64decode(json.loads(line)["data"]) for line in CORPUS.read_text().splitlines()
    ]
    before = _snapshot(platform)
    # An attribute lets the empty body through (Pub/Sub refuses a message with neither).
    message_ids = [
        platform.stack.pubsub.publish("dr-restore", body, {"corpus": "malformed"})
        for body in bodies
    ]
    wanted = {f"msg-{message_id}" for message_id in message_ids}

    def all_recorded() -> bool:
        storage = eyewear.clients_storage()
        recorded = {
            blob.name.split("/")[1]
            for blob in storage.list_blobs(eyewear.STATE_BUCKET, prefix="restores/msg-")
        }
        return wanted <= recorded

    wait_until(all_recorded, 300, "a status record for every malformed message", 1.0)
    statuses = [platform.status(request_id) for request_id in sorted(wanted)]
    assert {s["phase"] for s in statuses if s} == {"Failed"}
    assert all(s and s["errors"] and "RequestError" in s["errors"][0] for s in statuses)
    assert _snapshot(platform) == before
    dead = platform.stack.pubsub.pull("dr-restore-dead-letter-pull", expect=1, timeout=2)
    assert dead == []  # nothing crashed the function
