"""dr-restore end to end: the guide's restore commands, published with the real gcloud CLI.

One stack for the module, deployed as production is: six functions behind
Pub/Sub push subscriptions, the MongoDB job through the Cloud Run API stand-in,
Firestore exports and imports through the Admin API stand-in, the key in the
Secret Manager stand-in, reports to a real SMTP server and webhook receiver.
Backups are made the way Cloud Scheduler makes them (a message per target).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from shared.restore.ending import exit_code_for
from tests import eyewear, restore_fuzz
from tests.conftest import patched_environ
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


def test_an_unconfirmed_production_overwrite_is_refused_with_the_confirm_to_send(
    platform: eyewear.Platform,
) -> None:
    import pymongo

    client: Any
    with pymongo.MongoClient(platform.settings["MONGODB_URI"]) as client:
        client[eyewear.DB_NAME].marker.insert_one({"_id": "written after the backup"})
        status = platform.restore({"target": "mongodb", "date": _today(), "type": "daily"})
        assert client[eyewear.DB_NAME].marker.find_one({"_id": "written after the backup"})
    assert status["phase"] == "Refused"
    assert status["confirm"] == eyewear.DB_NAME
    assert exit_code_for(status) == 73
    assert status["result"]["mode"] == "plan"
    summary = status["result"]["notes"][0]
    assert summary.startswith(f"NOT RUN: would overwrite '{eyewear.DB_NAME}' ("), summary
    assert "collections, " in summary
    assert "InProgress" not in [p["phase"] for p in status["phases"]]


def test_a_dry_run_ends_planned_in_the_conditional(platform: eyewear.Platform) -> None:
    body = {"target": "gcs", "source_bucket": "eyewearml-assets", "dry_run": True}
    status = platform.restore(body)
    assert status["phase"] == "Planned", status
    assert exit_code_for(status) == 0
    summary = status["result"]["notes"][0]
    assert summary.startswith("NOT RUN: would overwrite 'eyewearml-assets' ("), summary
    assert " objects, " in summary
    assert "to overwrite" in status["result"]["counts"]


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
        databases = sorted(
            (db, name, client[db][name].estimated_document_count())
            for db in client.list_database_names()
            if db not in ("admin", "local", "config")
            for name in client[db].list_collection_names()
        )
    buckets = sorted(bucket.name for bucket in storage.list_buckets())
    return objects, locks, databases, buckets


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
    assert all(s and s["error_class"] == "RequestError" and s["exit_code"] == 64 for s in statuses)
    assert _snapshot(platform) == before
    dead = platform.stack.pubsub.pull("dr-restore-dead-letter-pull", expect=1, timeout=2)
    assert dead == []  # nothing crashed the function


# --- requests that cannot be misread ----------------------------------------------------

D = "2025-03-25"
REJECTED: dict[str, tuple[bytes, str]] = {
    "the same key twice": (
        b'{"target": "gcs", "source_bucket": "eyewearml-assets", "dry_run": true, '
        b'"confirm": "eyewearml-assets", "dry_run": false}',
        "field 'dry_run' is given more than once",
    ),
    "hour 14.0": (b'{"target": "mongodb", "date": "%s", "hour": 14.0}', "hour: 14.0 is not of"),
    "hour -0.0": (b'{"target": "mongodb", "date": "%s", "hour": -0.0}', "hour: -0.0 is not of"),
    "hour 1e1": (b'{"target": "mongodb", "date": "%s", "hour": 1e1}', "hour: 10.0 is not of"),
    "hour 10**30": (b'{"target": "mongodb", "date": "%s", "hour": 1%s}' % (b"%s", b"0" * 30),
                    "greater than the maximum of 23"),
    "a number of 5000 digits": (b'{"target": "mongodb", "hour": ' + b"9" * 5000 + b"}",
                                "a number of 5000 digits"),
    "NaN": (b'{"target": "mongodb", "date": "%s", "hour": NaN}', "NaN is not a JSON number"),
    "Infinity": (b'{"target": "mongodb", "hour": -Infinity}', "-Infinity is not a JSON number"),
    "a huge float": (b'{"target": "mongodb", "hour": 1e999}', "out of range"),
    "a lone surrogate": (b'{"target": "gcs", "source_bucket": "x", "confirm": "\\ud800"}',
                         "confirm holds '\\ud800', a lone surrogate"),
    "invalid UTF-8": (b'{"target": "gcs", "source_bucket": "\xff\xfe"}', "not UTF-8 text"),
    "too large": (b'{"target": "gcs", "x": "' + b"a" * 70_000 + b'"}', "the limit is 65536"),
    "too deep": (b'{"target": "gcs", "x": ' + b"[" * 20 + b"]" * 20 + b"}", "nested more than"),
    "a system database": (b'{"target": "mongodb", "date": "%s", "target_db": "admin", '
                          b'"confirm": "admin"}', "target_db 'admin' is a reserved name"),
    "test mode into target_db": (
        b'{"target": "mongodb", "date": "%s", "test_mode": true, "target_db": "elsewhere"}',
        "target_db cannot be combined with it"),
    "test mode into target_bucket": (
        b'{"target": "gcs", "source_bucket": "eyewearml-assets", "test_mode": true, '
        b'"target_bucket": "elsewhere"}', "target_bucket cannot be combined with it"),
    "test mode into target_database": (
        b'{"target": "firestore", "date": "%s", "test_mode": true, "target_database": "other"}',
        "target_database cannot be combined with it"),
}  # fmt: skip


def _sent(platform: eyewear.Platform, data: bytes) -> str:
    message_id = platform.stack.pubsub.publish("dr-restore", data, {"case": "strict"})
    return f"msg-{message_id}"


def _notified_once(platform: eyewear.Platform, request_id: str) -> bool:
    received = platform.webhook.received
    return sum(request_id in json.dumps(body) for body in received) == 1


def test_each_misreadable_request_is_rejected_named_recorded_and_notified(
    platform: eyewear.Platform,
) -> None:
    before = _snapshot(platform)
    sent = {
        case: _sent(platform, data.replace(b"%s", _today().encode()))
        for case, (data, _) in REJECTED.items()
    }
    for case, request_id in sent.items():
        status = platform.wait_status(request_id, 60)
        assert status["phase"] == "Failed", (case, status)
        assert status["error_class"] == "RequestError", (case, status)
        assert REJECTED[case][1] in status["errors"][0], (case, status["errors"])
        assert exit_code_for(status) == 64
        wait_until(partial(_notified_once, platform, request_id), 20, f"{case} notified")
    assert _snapshot(platform) == before
    odd = platform.status(sent["invalid UTF-8"])
    assert odd is not None
    assert "\\xff\\xfe" in odd["request"]["raw"]
    assert platform.stack.pubsub.pull("dr-restore-dead-letter-pull", expect=1, timeout=2) == []


def _holding_data(platform: eyewear.Platform) -> tuple[str, str]:
    import pymongo

    storage = eyewear.clients_storage()
    bucket = storage.lookup_bucket("eyewearml-holds-data") or storage.create_bucket(
        "eyewearml-holds-data"
    )
    if not bucket.blob("keep.txt").exists():
        bucket.blob("keep.txt").upload_from_string(b"not from a backup")
    client: Any
    with pymongo.MongoClient(platform.settings["MONGODB_URI"]) as client:
        document = {"_id": "not from a backup"}
        client["eyewear_other"].kept.replace_one(document, document, upsert=True)
    return bucket.name, "eyewear_other"


def test_a_destination_that_holds_data_needs_confirm_whatever_its_name(
    platform: eyewear.Platform,
) -> None:
    import pymongo

    from shared.firestore.verify import data_client

    bucket, database = _holding_data(platform)
    before = _snapshot(platform)
    gcs = platform.restore(
        {"target": "gcs", "source_bucket": "eyewearml-assets", "target_bucket": bucket}
    )
    mongo = platform.restore(
        {"target": "mongodb", "date": _today(), "type": "daily", "target_db": database}
    )
    data_client(platform.stack.project, "restored").document("kept/one").set({"a": 1})
    firestore = platform.restore(
        {"target": "firestore", "date": _today(), "target_database": "restored"}
    )
    occupied = f"{platform.stack.project}/restored"
    for status, name in ((gcs, bucket), (mongo, database), (firestore, occupied)):
        assert status["phase"] == "Refused", status
        assert status["confirm"] == name
        assert f'"confirm": "{name}"' in status["errors"][-1]
        assert exit_code_for(status) == 73
    assert _snapshot(platform) == before
    client: Any
    with pymongo.MongoClient(platform.settings["MONGODB_URI"]) as client:
        assert client[database].kept.count_documents({}) == 1
        assert client[database].list_collection_names() == ["kept"]


def test_a_reused_request_id_is_rejected_in_its_own_record_and_the_same_body_is_not(
    platform: eyewear.Platform,
) -> None:
    first = {"target": "gcs", "source_bucket": "eyewearml-data", "dry_run": True,
             "request_id": "drill-reused-1"}  # fmt: skip
    assert platform.restore(first)["phase"] == "Planned"
    other = {**first, "dry_run": False, "test_mode": True}
    message_id = platform.stack.pubsub.publish("dr-restore", json.dumps(other).encode())
    rejected = platform.wait_status(f"msg-{message_id}", 60)
    assert rejected["phase"] == "Failed"
    assert (
        "request_id 'drill-reused-1' was already used by a different request"
        in (rejected["errors"][0])
    )
    again = platform.stack.pubsub.publish("dr-restore", json.dumps(first).encode())
    wait_until(lambda: _logged(platform, "drill-reused-1 was already received") >= 1, 30, "log")
    assert platform.status(f"msg-{again}") is None
    status = platform.status("drill-reused-1")
    assert status is not None
    assert status["phase"] == "Planned"


@pytest.mark.parametrize(
    ("phase", "progress", "ends"),
    [("Validating", {}, "Planned"), ("InProgress", {}, "Failed")],
)
def test_a_redelivered_request_that_had_not_ended_is_resumed_or_failed(
    platform: eyewear.Platform, phase: str, progress: dict[str, Any], ends: str
) -> None:
    from shared.restore.status import StatusStore

    request_id = f"drill-stranded-{phase.lower()}"
    body = {"target": "gcs", "source_bucket": "eyewearml-data", "dry_run": True,
            "request_id": request_id}  # fmt: skip
    store = StatusStore(eyewear.clients_storage().bucket(eyewear.STATE_BUCKET))
    store.create(request_id, body, "an-earlier-delivery")  # as a crashed handler left it
    store.set_phase(request_id, phase)
    platform.stack.pubsub.publish("dr-restore", json.dumps(body).encode())
    status = platform.wait_status(request_id, 60)
    assert status["phase"] == ends, status
    if ends == "Failed":
        assert "interrupted in phase InProgress" in status["errors"][0]


def _job_restore(platform: eyewear.Platform, flags: list[str]) -> int:
    from shared.mongodb import job

    environ = {**platform.stack.env(), **platform.settings}
    return job.main(["restore", *flags], environ)


def _cli_restore(platform: eyewear.Platform, flags: list[str], request_id: str) -> int:
    from shared import cli

    with patched_environ({**platform.settings, **platform.gcloud_env}):
        return cli.main(["--project", platform.stack.project, "restore", "mongodb", *flags,
                         "--request-id", request_id, "--wait"])  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "phase", "code"),
    [
        (["--type", "daily"], "Refused", 73),
        (["--type", "daily", "--dry-run"], "Planned", 0),
        (["--type", "daily", "--test-mode"], "Completed", 0),
    ],
    ids=["unconfirmed", "dry-run", "test-mode"],
)
def test_the_same_request_ends_the_same_on_every_path(
    platform: eyewear.Platform, flags: list[str], phase: str, code: int
) -> None:
    word = {"Refused": "REFUSED", "Planned": "PLANNED", "Completed": "SUCCEEDED"}[phase]
    received = platform.webhook.received
    before = sum(word in json.dumps(note) for note in received)
    body: dict[str, Any] = {"target": "mongodb", "date": _today(), "type": "daily"}
    body.update({flag[2:].replace("-", "_"): True for flag in flags[2:]})
    published = platform.restore(body)
    assert (published["phase"], exit_code_for(published)) == (phase, code)
    tag = "-".join(flags)[2:].replace("-", "")
    cli_id = f"drill-cli-{tag}"
    assert _cli_restore(platform, ["--date", _today(), *flags], cli_id) == code
    status = platform.status(cli_id)
    assert status is not None
    assert status["phase"] == phase
    assert _job_restore(platform, ["--date", _today(), *flags]) == code
    wait_until(
        lambda: sum(word in json.dumps(note) for note in received) - before == 3,
        30,
        f"one {word} notification from each path",
    )


def test_a_job_execution_that_cannot_read_its_request_ends_it(platform: eyewear.Platform) -> None:
    from shared.mongodb import job, jobenv
    from shared.restore.status import StatusStore

    store = StatusStore(eyewear.clients_storage().bucket(eyewear.STATE_BUCKET))
    store.create("drill-job-unreadable", {"target": "mongodb"}, "m-job")
    store.set_phase("drill-job-unreadable", "InProgress")  # as the dispatcher leaves it
    environ = {
        **platform.stack.env(),
        **platform.settings,
        jobenv.COMMAND: "restore",
        jobenv.REQUEST_ID: "drill-job-unreadable",
        jobenv.RESTORE_REQUEST: '{"date": "2025-03-25", "date": "2025-03-26"}',
    }
    assert job.main([], environ) == 64
    status = platform.status("drill-job-unreadable")
    assert status is not None
    assert status["phase"] == "Failed"
    assert "'date' is given more than once" in status["errors"][0]


@pytest.mark.parametrize("target", ["gcs", "firestore"])
def test_a_redelivered_backup_trigger_starts_one_run(
    platform: eyewear.Platform, target: str
) -> None:
    from shared.events import PubSubMessage
    from shared.firestore import handlers as firestore_handlers
    from shared.gcs import handlers as gcs_handlers

    handler = {"gcs": gcs_handlers, "firestore": firestore_handlers}[target].on_backup_message
    before = {entry.backup_id for entry in platform.backups(target)}
    message = PubSubMessage(b'{"tier": "weekly"}', f"redelivered-{target}",
                            publish_time=datetime.now(UTC).isoformat())  # fmt: skip
    with patched_environ(platform.settings):
        handler(message)
        handler(message)  # the same message id again
    wait_until(
        lambda: any(e.complete for e in platform.backups(target) if e.backup_id not in before),
        180,
        f"the {target} run",
    )
    new = [e for e in platform.backups(target) if e.backup_id not in before]
    assert len(new) == 1, new


FUZZ_BODIES = int(os.environ.get("DR_FUZZ_BODIES", "24"))
FUZZ_SEED = int(os.environ.get("DR_FUZZ_SEED", "20251203"))


def test_fuzzed_bodies_all_end_and_write_nothing_outside_scratch(
    platform: eyewear.Platform,
) -> None:
    bucket, database = _holding_data(platform)
    today, project = _today(), platform.stack.project
    valid: list[dict[str, Any]] = [
        {"target": "mongodb", "date": today, "type": "daily"},
        {"target": "mongodb", "date": today, "type": "daily", "test_mode": True},
        {"target": "mongodb", "date": today, "dry_run": True, "target_db": database},
        {"target": "firestore", "date": today},
        {"target": "firestore", "date": today, "dry_run": True},
        {"target": "gcs", "source_bucket": "eyewearml-assets"},
        {"target": "gcs", "source_bucket": "eyewearml-data", "test_mode": True},
        {"target": "gcs", "source_bucket": "eyewearml-assets", "target_bucket": bucket},
    ]
    destinations = {
        "target_db": (database, eyewear.DB_NAME, "admin", "Config"),
        "target_bucket": (bucket, *eyewear.SOURCE_BUCKETS, "goog-restore"),
        "target_project": (project,),
        "target_database": ("(default)", "dr-test-1"),
    }
    real = {bucket, database, eyewear.DB_NAME, project, *eyewear.SOURCE_BUCKETS}
    strategy = restore_fuzz.bodies(valid, destinations)
    sample = [
        body
        for body in restore_fuzz.examples(strategy, FUZZ_BODIES, FUZZ_SEED)
        if restore_fuzz.harmless(body, destinations, real)
    ]
    before = _snapshot(platform)

    def publish(data: bytes) -> str:
        return platform.stack.pubsub.publish("dr-restore", data, {"fuzz": "1"})

    figures, stuck = restore_fuzz.run(sample, publish, platform.status, 120 + 3 * len(sample))
    with contextlib.suppress(AssertionError):  # counted below; the wait only lets scratch go
        wait_until(lambda: _snapshot(platform) == before, 120, "scratch copies gone")
    after = _snapshot(platform)
    figures.writes_outside_scratch = sum(
        len(set(a) ^ set(b)) for a, b in zip(before, after, strict=True)
    )
    dead = platform.stack.pubsub.pull("dr-restore-dead-letter-pull", expect=1, timeout=2)
    figures.dead_lettered = len(dead)
    if os.environ.get("DR_FUZZ_FIGURES"):
        Path(os.environ["DR_FUZZ_FIGURES"]).write_text(json.dumps(figures.to_json(), indent=1))
    assert stuck == []
    assert after == before  # nothing outside scratch changed, no scratch copy or lock is left
    assert dead == []
    serving = platform.restore(
        {"target": "gcs", "source_bucket": "eyewearml-data", "dry_run": True}
    )
    assert serving["phase"] == "Planned"
