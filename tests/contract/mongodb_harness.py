"""The contract harness of MongoDB: the trigger function's handler and the Cloud Run job.

The handler starts an execution of the job through the Cloud Run API
stand-in, which runs ``python -m shared.mongodb.job`` as its own process with
the job's environment (as Terraform defines it); restores start an execution
the same way, and the job ends the request's status record itself.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared import clients
from shared.events import PubSubMessage, trigger_run_id
from shared.keys import generate_key_file
from shared.mongodb import handlers
from shared.registry import registry
from tests.conftest import patched_environ
from tests.contract.harness import Common, Restores, manifest_create, scheduler_message
from tests.devstack.mongo import unique_db_name
from tests.devstack.process import REPO_ROOT
from tests.devstack.standin import CloudRunStandIn
from tests.devstack.storage import unique_bucket_name
from tests.polling import wait_until


class MongoHarness:
    name = "mongodb"

    def __init__(self, common: Common, mongo: Any, job: str) -> None:
        self.proxy = common.proxy
        self.mongo, self.job = mongo, job
        self.db_name = unique_db_name("contract")
        self.backup_bucket = common.storage_client.create_bucket(unique_bucket_name("mongo-bak"))
        self.restores = Restores(common.state_bucket, registry)
        self.mongo[self.db_name].frames.insert_many(
            [{"_id": n, "model": f"EW-{n:05d}", "tags": ["round", n]} for n in range(300)]
        )
        self.mongo[self.db_name].lenses.insert_many([{"_id": n, "index": 1.5} for n in range(40)])

    def env(self, uri: str, key_file: Path, state_bucket: str) -> dict[str, str]:
        """The job's settings, as Terraform sets them (one weekly backup kept by count)."""
        return {
            "MONGODB_URI": uri,
            "MONGODB_DB_NAME": self.db_name,
            "MONGODB_GCS_BUCKET": self.backup_bucket.name,
            "ENCRYPTION_KEY_FILE": str(key_file),
            "DR_STATE_BUCKET": state_bucket,
            "RETENTION_WEEKLY": "1",
        }

    def _executions(self) -> list[Any]:
        return list(clients.run_executions_client().list_executions(parent=self.job))

    def _start(self, message: PubSubMessage) -> str:
        """Deliver ``message`` to the trigger function; the execution it started."""
        before = {execution.name for execution in self._executions()}
        handlers.on_backup_message(message)
        (started,) = [e.name for e in self._executions() if e.name not in before]
        return str(started)

    def _wait(self, execution: str) -> None:
        client = clients.run_executions_client()
        wait_until(
            lambda: client.get_execution(name=execution).completion_time,
            120,
            f"execution {execution} to end",
            interval=0.2,
        )

    def deliver_backup(self, message: PubSubMessage) -> None:
        self._wait(self._start(message))

    def kill_midway(self) -> str:
        """The job is killed (SIGKILL) while its manifest create is on the wire.

        The proxy holds that request until the execution has been cancelled,
        which kills the job's process group: the archive is written, the
        manifest never is.
        """
        message = scheduler_message({"tier": "daily"})
        run_id = trigger_run_id(message, datetime.now(UTC))
        commit = manifest_create(self.backup_bucket.name, run_id)
        held = self.proxy.add(**commit, status=503, held=True)
        try:
            execution = self._start(message)
            assert held.arrived.wait(120), f"run {run_id} never reached its commit"
            clients.run_executions_client().cancel_execution(name=execution)
            self._wait(execution)
        finally:
            held.released.set()
            self.proxy.faults.remove(held)
        return run_id

    def production_request(self) -> dict[str, Any]:
        return {"target": "mongodb", "date": datetime.now(UTC).date().isoformat()}

    def test_request(self) -> dict[str, Any]:
        return {**self.production_request(), "test_mode": True}

    def source_state(self) -> Any:
        db = self.mongo[self.db_name]
        return {name: list(db[name].find().sort("_id")) for name in db.list_collection_names()}

    def leftovers(self) -> set[str]:
        return set(self.mongo.list_database_names())


@contextlib.contextmanager
def running(common: Common) -> Iterator[MongoHarness]:
    """The job defined on a Cloud Run stand-in of its own; its storage traffic through the proxy."""
    server = common.fixture("mongo_server")
    mongo = common.fixture("mongo_client")
    workdir = common.fixture("tmp_path_factory").mktemp("contract-mongodb")
    project = common.fixture("devstack").project
    job = f"projects/{project}/locations/us-central1/jobs/dr-mongodb"
    key_file = workdir / "backup.key"
    generate_key_file(key_file)
    cloud_run = CloudRunStandIn(workdir / "cloud-run")
    cloud_run.start()
    harness = MongoHarness(common, mongo, job)
    try:
        env = harness.env(server.uri(), key_file, common.state_bucket.name)
        job_env = {
            **env,
            "STORAGE_EMULATOR_HOST": common.proxy.url,
            "GOOGLE_CLOUD_PROJECT": project,
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "shared.mongodb.job"]
        cloud_run.define_job(job, command, job_env, REPO_ROOT)
        with patched_environ({**cloud_run.env(), **env, "DR_MONGODB_JOB": job}):
            yield harness
    finally:
        cloud_run.stop()
        mongo.drop_database(harness.db_name)
