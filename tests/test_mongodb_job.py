"""The trigger function, the Cloud Run job (through the Cloud Run stand-in) and the job's CLI.

Executions are real processes started by the stand-in from a copy of the
``shared`` package alone, as in the job's image (``functions/mongodb_job/Dockerfile``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import registry
from shared.catalog import Catalog
from shared.errors import BackupNotFound, ConfigError, RequestError
from shared.events import PubSubMessage, pubsub_message, trigger_run_id
from shared.keys import generate_key_file
from shared.manifest import RunLocation
from shared.mongodb import commands, handlers, job
from shared.mongodb.request import MongoRestoreRequest
from shared.mongodb.target import MongoRestoreTarget
from shared.restore import schema
from shared.restore.status import StatusStore
from shared.target import RestoreTarget
from tests.devstack.mongo import unique_db_name
from tests.devstack.process import REPO_ROOT
from tests.devstack.standin import CloudRunStandIn

EVENTS = Path(__file__).parent / "data" / "events"
JOB = "projects/demo-eyewearml/locations/us-central1/jobs/dr-mongodb"
PASSWORD = "not-in-any-log-9f8e7d"


def message(name: str) -> PubSubMessage:
    push = json.loads((EVENTS / name).read_text())
    return pubsub_message(push, push["message"]["messageId"])


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the job's image holds: the shared package, nothing else."""
    app = tmp_path_factory.mktemp("image") / "app"
    shutil.copytree(
        REPO_ROOT / "shared", app / "shared", ignore=shutil.ignore_patterns("__pycache__")
    )
    return app


@pytest.fixture(scope="module")
def cloud_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudRunStandIn]:
    workdir = tmp_path_factory.mktemp("cloud-run")
    jobs = workdir / "jobs.json"
    jobs.write_text("{}")
    standin = CloudRunStandIn(workdir, jobs)
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def deployment(
    cloud_run: CloudRunStandIn,
    image: Path,
    stack_env: dict[str, str],
    mongo_server: Any,
    mongo_client: Any,
    storage_client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    """A job definition (as Terraform would write it) and the function's environment."""
    key = tmp_path / "backup.key"
    generate_key_file(key)
    db = unique_db_name("job")
    bucket = storage_client.create_bucket(f"backups-{db.replace('_', '-')}")
    state = storage_client.create_bucket(f"state-{db.replace('_', '-')}")
    env = {
        "MONGODB_URI": mongo_server.uri(),
        "MONGODB_GCS_BUCKET": bucket.name,
        "MONGODB_DB_NAME": db,
        "ENCRYPTION_KEY_FILE": str(key),
        "DR_STATE_BUCKET": state.name,
        "STORAGE_EMULATOR_HOST": stack_env["STORAGE_EMULATOR_HOST"],
        "GOOGLE_CLOUD_PROJECT": "demo-eyewearml",
        "PYTHONPATH": "",
    }
    definition = {
        "command": [sys.executable, "-m", "shared.mongodb.job"],
        "env": env,
        "cwd": str(image),
    }
    cloud_run.jobs_file.write_text(json.dumps({JOB: definition}))
    for name, value in {**cloud_run.env(), "DR_MONGODB_JOB": JOB, **env}.items():
        monkeypatch.setenv(name, value)
    mongo_client[db].frames.insert_many([{"_id": n, "model": f"EW-{n}"} for n in range(500)])
    yield {"db": db, "bucket": bucket, "state": state, "key": str(key), "env": env}
    mongo_client.drop_database(db)


def executions(cloud_run: CloudRunStandIn) -> list[Any]:
    from shared import clients

    return list(clients.run_executions_client().list_executions(parent=JOB))


def wait_for(name: str, timeout: float = 90.0) -> Any:
    from shared import clients

    client = clients.run_executions_client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = client.get_execution(name=name)
        if execution.completion_time:
            return execution
        time.sleep(0.2)
    raise AssertionError(f"execution {name} did not finish in {timeout} s")


def log_of(execution: Any) -> str:
    return Path(execution.log_uri.removeprefix("file://")).read_text()


def test_the_scheduler_message_starts_a_job_execution_that_backs_up(
    cloud_run: CloudRunStandIn, deployment: dict[str, Any]
) -> None:
    trigger = message("mongodb_scheduler_daily.json")
    handlers.on_backup_message(trigger)
    (started,) = executions(cloud_run)
    done = wait_for(started.name)
    assert (done.succeeded_count, done.failed_count) == (1, 0), log_of(done)
    run_id = trigger_run_id(trigger, dt.datetime.now(dt.UTC))
    assert run_id.startswith("20250325T010000Z-")
    (entry,) = Catalog(deployment["bucket"], "mongodb").backups("daily")
    assert entry.location == RunLocation("", "mongodb", "daily", run_id)
    assert entry.manifest is not None
    assert entry.manifest.counts == {f"{deployment['db']}.frames": 500}
    records = [json.loads(line) for line in log_of(done).splitlines() if line.startswith("{")]
    assert all(
        r["logging.googleapis.com/labels"]["run_id"] == run_id
        for r in records
        if "logging.googleapis.com/labels" in r
    )
    handlers.on_backup_message(trigger)  # a redelivery: same run, already committed
    second = wait_for(executions(cloud_run)[0].name)
    assert "already committed" in log_of(second)
    assert len(Catalog(deployment["bucket"], "mongodb").entries()) == 1


def test_hourly_runs_only_when_enabled(
    cloud_run: CloudRunStandIn, deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(executions(cloud_run))
    handlers.on_backup_message(message("mongodb_scheduler_hourly.json"))
    assert len(executions(cloud_run)) == before
    monkeypatch.setenv("ENABLE_HOURLY", "true")
    cloud_run.jobs_file.write_text(
        json.dumps(
            {
                JOB: {
                    **json.loads(cloud_run.jobs_file.read_text())[JOB],
                    "env": {**deployment["env"], "ENABLE_HOURLY": "true"},
                }
            }
        )
    )
    handlers.on_backup_message(message("mongodb_scheduler_hourly.json"))
    done = wait_for(executions(cloud_run)[0].name)
    assert done.succeeded_count == 1, log_of(done)
    (entry,) = Catalog(deployment["bucket"], "mongodb").backups("hourly")
    assert entry.location.slot == "2025-03-25T01"


def test_bad_messages_and_a_missing_job_are_clear_errors(
    cloud_run: CloudRunStandIn, deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(RequestError, match="tier 'yearly' is not one of"):
        handlers.on_backup_message(message("mongodb_scheduler_bad_tier.json"))
    monkeypatch.delenv("MONGODB_URI")  # the function never needs it: it reaches Cloud Run
    monkeypatch.setenv("DR_MONGODB_JOB", JOB + "-missing")
    with pytest.raises(ConfigError, match="does not exist"):
        handlers.on_backup_message(message("mongodb_scheduler_daily.json"))


def test_a_dry_run_lists_what_would_be_dumped_and_writes_nothing(
    cloud_run: CloudRunStandIn, deployment: dict[str, Any]
) -> None:
    handlers.on_backup_message(message("mongodb_scheduler_weekly_dry_run.json"))
    done = wait_for(executions(cloud_run)[0].name)
    assert done.succeeded_count == 1, log_of(done)
    assert f"would dump {deployment['db']}.frames (collection, about 500 documents)" in log_of(done)
    assert list(deployment["bucket"].list_blobs()) == []


def test_a_failing_job_is_a_failed_execution_with_its_exit_code(
    cloud_run: CloudRunStandIn, deployment: dict[str, Any]
) -> None:
    definition = json.loads(cloud_run.jobs_file.read_text())[JOB]
    unreachable = f"mongodb://u:{PASSWORD}@127.0.0.1:1/?serverSelectionTimeoutMS=200"
    definition["env"]["MONGODB_URI"] = unreachable
    cloud_run.jobs_file.write_text(json.dumps({JOB: definition}))
    handlers.on_backup_message(message("mongodb_scheduler_daily.json"))
    done = wait_for(executions(cloud_run)[0].name)
    assert (done.succeeded_count, done.failed_count) == (0, 1)
    assert "exit code 69" in done.conditions[0].message
    output = log_of(done)
    assert "SourceUnavailable" in output
    assert PASSWORD not in output


def test_a_killed_job_leaves_no_backup(
    cloud_run: CloudRunStandIn, deployment: dict[str, Any], tmp_path: Path
) -> None:
    """Killed mid-dump: the upload is never finalised and no manifest exists, so no backup.

    The data lives on a private server, so its oplog does not slow the shared one.
    """
    import pymongo
    from secantus import SecantusDBServer

    from shared import clients

    server = SecantusDBServer(port=0, storage_path=str(tmp_path / "big"))
    server.start()
    try:
        client: pymongo.MongoClient[dict[str, Any]]
        with pymongo.MongoClient(server.uri, document_class=dict) as client:
            for name in ("a", "b", "c"):
                client.big[name].insert_many([{"pad": "x" * 400} for _ in range(15_000)])
        definition = json.loads(cloud_run.jobs_file.read_text())[JOB]
        definition["env"].update(MONGODB_URI=server.uri, MONGODB_DB_NAME="big")
        cloud_run.jobs_file.write_text(json.dumps({JOB: definition}))
        handlers.on_backup_message(message("mongodb_scheduler_daily.json"))
        started = executions(cloud_run)[0]
        log = Path(started.log_uri.removeprefix("file://"))
        deadline = time.monotonic() + 60
        while "dumping 3 namespaces" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the dump did not start"
            time.sleep(0.05)
        clients.run_executions_client().cancel_execution(name=started.name)
        done = wait_for(started.name)
    finally:
        server.stop()
    assert done.cancelled_count == 1
    assert "committed" not in log_of(done)
    catalog = Catalog(deployment["bucket"], "mongodb")
    assert catalog.backups() == []
    with pytest.raises(BackupNotFound, match="there are no backups at all"):
        catalog.resolve(dt.date(2025, 3, 25), "daily")


def test_the_dispatcher_starts_a_restore_execution_that_ends_the_request(
    cloud_run: CloudRunStandIn, deployment: dict[str, Any], mongo_client: Any
) -> None:
    handlers.on_backup_message(message("mongodb_scheduler_daily.json"))
    assert wait_for(executions(cloud_run)[0].name).succeeded_count == 1
    push = json.loads((EVENTS / "mongodb_restore_test_mode.json").read_text())
    body = pubsub_message(push).json()
    request = schema.validate(body, registry.shapes()).typed
    target: RestoreTarget[MongoRestoreRequest] = MongoRestoreTarget()
    backup = target.resolve(request)
    assert backup.startswith(f"gs://{deployment['bucket'].name}/mongodb/daily/2025-03-25/")
    assert target.production_name(request) is None  # test mode never touches production
    production = schema.validate({**body, "test_mode": False}, registry.shapes()).typed
    assert target.production_name(production) == deployment["db"]
    plan = target.plan(production)
    assert plan.mode == "plan"
    assert plan.plan[:2] == (
        f"would write {deployment['db']}.frames (500 documents)",
        "would write 1 collection, 500 documents",
    )
    store = StatusStore(deployment["state"])
    store.create("drill-1", body, "m-1")
    store.set_phase("drill-1", "InProgress")
    target.start(request, "drill-1", store.progress("drill-1"))
    execution = store.get("drill-1").data["progress"]["execution"]  # type: ignore[union-attr]
    done = wait_for(execution)
    assert done.succeeded_count == 1, log_of(done)
    record = store.get("drill-1")
    assert record is not None
    assert record.phase == "Completed", record.data
    assert record.data["result"]["verified"] is True
    assert record.data["result"]["mode"] == "test"
    assert [p["phase"] for p in record.data["phases"]][-2:] == ["Verifying", "Completed"]
    assert not [d for d in mongo_client.list_database_names() if "_drtest_" in d]


# --- the command line, in process ------------------------------------------------------------


def test_cli_failures_exit_with_their_error_codes_and_clear_messages(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, deployment: dict[str, Any]
) -> None:
    env = {
        **deployment["env"],
        "MONGODB_URI": f"mongodb://u:{PASSWORD}@127.0.0.1:1/?serverSelectionTimeoutMS=200",
    }
    assert job.main(["backup", "--type", "daily"], env) == 69
    out = capsys.readouterr().out
    assert "SourceUnavailable" in out
    assert "127.0.0.1:1" in out
    assert PASSWORD not in out
    assert job.main([], {}) == RequestError.exit_code
    assert job.main(["restore"], deployment["env"]) == RequestError.exit_code
    assert "needs --date" in capsys.readouterr().out
    assert (
        job.main(["restore", "--date", "2025-03-25"], deployment["env"]) == BackupNotFound.exit_code
    )
    config_file = tmp_path / "mongodb_backup.conf"
    config_file.write_text('MONGODB_DB_NAME="eyewear_ml"\nENABLE_HOURLY=false\n')
    assert (
        job.main(["backup", "--config", str(config_file), "--type", "hourly"], deployment["env"])
        == 0
    )
    assert "ENABLE_HOURLY is false" in capsys.readouterr().out


def fixed(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment


def test_retention_keeps_the_configured_number_per_tier(deployment: dict[str, Any]) -> None:
    env = {**deployment["env"], "RETENTION_DAILY": "2"}

    def backup(tier: str, when: dt.datetime) -> int:
        return commands.backup_command(
            config_file=None, tier=tier, run_id=None, dry_run=False, environ=env, clock=fixed(when)
        )

    for day in (20, 21, 22):
        assert backup("daily", dt.datetime(2025, 3, day, 1, tzinfo=dt.UTC)) == 0
    found = Catalog(deployment["bucket"], "mongodb")
    slots = [e.location.slot for e in found.backups("daily")]
    assert slots == ["2025-03-22", "2025-03-21"]

    # Manual backups later that day are their own tier: the daily ones stay as they were.
    for hour in (12, 13):
        assert backup("manual", dt.datetime(2025, 3, 22, hour, tzinfo=dt.UTC)) == 0
    assert [e.location.slot for e in found.backups("daily")] == slots
    assert [e.time.hour for e in found.backups("manual")] == [13, 12]  # DR_RETENTION_MANUAL=7


def test_the_job_image_runs_the_job_as_a_non_root_user() -> None:
    dockerfile = (REPO_ROOT / "functions" / "mongodb_job" / "Dockerfile").read_text()
    instructions = [
        line for line in dockerfile.splitlines() if line and not line.startswith((" ", "#"))
    ]
    assert re.match(r"FROM python:3\.11-slim", instructions[0])
    user = next(line for line in instructions if line.startswith("USER "))
    assert not user.split()[1].startswith(("0", "root"))
    assert instructions[-1] == 'ENTRYPOINT ["python", "-m", "shared.mongodb.job"]'
    assert "COPY shared/ ./shared/" in instructions
    assert not [line for line in instructions if line.startswith("COPY tests")]
