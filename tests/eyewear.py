"""The EyewearML platform on a local stack: its data, its settings, its deployment.

Shared by the demo and the end-to-end tests, so both exercise what
production runs: the six functions served by functions-framework with push
subscriptions, the MongoDB job started through the Cloud Run API, Firestore
exports through the Admin API, keys from Secret Manager, notifications to a
real SMTP server and a real webhook receiver. Data is shaped like the
platform in the guide: Firestore ``users``/``products``/``sessions``; buckets
``eyewearml-assets``/``-models``/``-data`` with the critical files
``models/face-analysis-v2.0/model.pb`` and ``config/production.json``; the
MongoDB database ``eyewear_ml``.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests import firestoredata, mongodata
from tests.devstack.functions import FunctionGroup
from tests.devstack.process import REPO_ROOT
from tests.devstack.product import product_functions
from tests.devstack.stack import Stack
from tests.polling import wait_until

SOURCE_BUCKETS = ("eyewearml-assets", "eyewearml-models", "eyewearml-data")
BACKUP_BUCKET = "eyewearml-backups"
STATE_BUCKET = "eyewearml-dr-state"
DB_NAME = "eyewear_ml"
CRITICAL_FILES = ("models/face-analysis-v2.0/model.pb", "config/production.json")
KEY_SECRET = "dr-encryption-key"
LOCATION = "us-central1"
STACK_SERVICES = (
    "firestore",
    "pubsub",
    "storage",
    "mongo",
    "secret_manager",
    "firestore_admin",
    "cloud_run",
)


def job_name(project: str) -> str:
    return f"projects/{project}/locations/{LOCATION}/jobs/dr-mongodb"


@dataclass
class Webhook:
    """A real HTTP receiver that records every JSON body posted to it."""

    server: ThreadingHTTPServer
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/dr"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_webhook() -> Webhook:
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            """Quiet: the receiver's records are the log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Webhook(server, received)


def settings(stack: Stack, smtp_port: int, webhook_url: str) -> dict[str, str]:
    """Every target's settings, as Terraform would set them on the functions and the job."""
    project = stack.project
    return {
        "GCS_PROJECT_ID": project,
        "GCS_SOURCE_BUCKETS": ",".join(SOURCE_BUCKETS),
        "GCS_BACKUP_BUCKET": BACKUP_BUCKET,
        "GCS_CRITICAL_FILES": ",".join(CRITICAL_FILES),
        "GCS_RETENTION_DAYS": "90",
        "GCS_SHARD_SIZE": "40",  # small, so the demo's buckets really fan out
        "FIRESTORE_PROJECT_ID": project,
        "FIRESTORE_GCS_BUCKET": BACKUP_BUCKET,
        "FIRESTORE_RETENTION_DAYS": "30",
        "MONGODB_URI": stack.mongo.uri(),
        "MONGODB_DB_NAME": DB_NAME,
        "MONGODB_GCS_BUCKET": BACKUP_BUCKET,
        "ENCRYPTION_KEY_SECRET": f"projects/{project}/secrets/{KEY_SECRET}",
        "ENABLE_HOURLY": "true",
        "DR_MONGODB_JOB": job_name(project),
        "DR_STATE_BUCKET": STATE_BUCKET,
        **{f"RPO_OBJECTIVE_{target}": "26h" for target in ("MONGODB", "FIRESTORE", "GCS")},
        **{f"RTO_OBJECTIVE_{target}": "10min" for target in ("MONGODB", "FIRESTORE", "GCS")},
        "NOTIFY_EMAIL": "devops@example.com",
        "NOTIFY_WEBHOOK": webhook_url,
        "NOTIFY_WEBHOOK_FORMAT": "slack",
        "NOTIFY_TIMEOUT_SECONDS": "5",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_STARTTLS": "false",
        "SMTP_FROM": "eyewearml-dr@example.com",
    }


def deploy(stack: Stack, product_settings: Mapping[str, str]) -> FunctionGroup:
    """Create the buckets and the key, define the MongoDB job, serve the six functions."""
    from shared import clients
    from shared.keys import generate_key_file

    storage = clients_storage()
    for name in (*SOURCE_BUCKETS, BACKUP_BUCKET, STATE_BUCKET):
        if storage.lookup_bucket(name) is None:
            storage.create_bucket(name)
    key_file = stack.workdir / "demo-backup.key"
    if not key_file.exists():
        generate_key_file(key_file)
    secrets = clients.secret_manager_client()
    parent = f"projects/{stack.project}"
    secrets.create_secret(
        request={
            "parent": parent,
            "secret_id": KEY_SECRET,
            "secret": {"replication": {"automatic": {}}},
        }
    )
    secrets.add_secret_version(
        request={
            "parent": f"{parent}/secrets/{KEY_SECRET}",
            "payload": {"data": key_file.read_bytes()},
        }
    )
    job_env = {**stack.env(), **product_settings, "PYTHONUNBUFFERED": "1"}
    stack.cloud_run.define_job(
        job_name(stack.project), [sys.executable, "-m", "shared.mongodb.job"], job_env, REPO_ROOT
    )
    return stack.deploy(product_functions(dict(product_settings)))


def clients_storage() -> Any:
    from shared import clients

    return clients.storage_client("eyewearml")


def seed_buckets(objects_per_bucket: int = 120) -> dict[str, int]:
    """Fill the three source buckets; returns objects per bucket."""
    storage = clients_storage()
    rng = random.Random(20250325)
    assets = storage.bucket("eyewearml-assets")
    for n in range(objects_per_bucket):
        blob = assets.blob(f"frames/{n // 40:02d}/frame-{n:04d} (front).png")
        blob.metadata = {"sku": f"EW-{n:05d}", "colour": rng.choice(["tortoise", "black", "clear"])}
        blob.cache_control = "public, max-age=3600"
        blob.upload_from_string(rng.randbytes(rng.randint(200, 6000)), content_type="image/png")
    models = storage.bucket("eyewearml-models")
    models.blob("models/face-analysis-v2.0/model.pb").upload_from_string(
        rng.randbytes(3 * 1024 * 1024), content_type="application/octet-stream"
    )
    models.blob("models/face-analysis-v2.0/labels.json").upload_from_string(
        json.dumps({"classes": ["oval", "round", "square", "heart"]}),
        content_type="application/json",
    )
    for n in range(objects_per_bucket - 2):
        models.blob(f"models/archive/v1.{n}/weights.bin").upload_from_string(rng.randbytes(512))
    data = storage.bucket("eyewearml-data")
    data.blob("config/production.json").upload_from_string(
        json.dumps({"recommendations": {"top_k": 12}, "regions": ["eu", "us"]}),
        content_type="application/json",
    )
    for n in range(objects_per_bucket - 1):
        gz = data.blob(f"exports/orders-{n:04d}.csv.gz")
        gz.content_encoding = "gzip"
        gz.upload_from_string(rng.randbytes(300), content_type="text/csv")
    return {name: objects_per_bucket for name in SOURCE_BUCKETS}


def seed_mongo(mongo_uri: str, people: int = 2000) -> dict[str, int]:
    """``eyewear_ml`` with every BSON type, indexes, options and a view; counts per collection."""
    import pymongo

    client: Any
    with pymongo.MongoClient(mongo_uri) as client:
        client.drop_database(DB_NAME)
        db = client[DB_NAME]
        mongodata.seed(db, people_count=people)
        return {
            name: db[name].count_documents({})
            for name in db.list_collection_names(filter={"type": "collection"})
        }


def seed_firestore(project: str) -> Mapping[str, int]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    client = firestore.Client(project=project, credentials=AnonymousCredentials())
    return firestoredata.seed(client)


def logs_of(stack: Stack) -> Iterator[Path]:
    """Every log file of the stack (servers, functions, job executions), for a failure report."""
    yield from sorted(stack.workdir.rglob("*.log"))


class Platform:
    """The deployed system on a running stack: publish like Cloud Scheduler and operators do.

    ``backup(target, tier)`` publishes the scheduler's message and waits for
    the run's manifest; ``restore(body)`` publishes a ``dr-restore`` request
    with the real ``gcloud`` CLI and waits for its status record to end. A
    background "scheduler" publishes to ``dr-firestore-complete`` every second,
    as the deployed Cloud Scheduler job does every few minutes.
    """

    received_mail: list[Any]
    webhook: Webhook

    def __init__(self, stack: Stack, product_settings: Mapping[str, str], gcloud_dir: Path) -> None:
        self.stack = stack
        self.settings = dict(product_settings)
        self.gcloud_env = stack.gcloud_env(gcloud_dir)
        self._ticking = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)

    def start_scheduler(self) -> None:
        self._ticking.set()
        self._ticker.start()

    def stop_scheduler(self) -> None:
        self._ticking.clear()

    def _tick(self) -> None:
        import time

        while self._ticking.is_set():
            self.stack.pubsub.publish("dr-firestore-complete", b"{}")
            time.sleep(1.0)

    def backups(self, target: str) -> list[Any]:
        from shared.catalog import Catalog

        return Catalog(clients_storage().bucket(BACKUP_BUCKET), target).entries()

    def backup(self, target: str, tier: str = "daily", timeout: float = 180.0) -> Any:
        """Publish the scheduler's message for ``target`` and wait for a new committed run."""
        before = {entry.backup_id for entry in self.backups(target)}
        topic = {"gcs": "dr-gcs-backup", "mongodb": "dr-mongodb-backup"}.get(
            target, "dr-firestore-backup"
        )
        self.stack.pubsub.publish(topic, json.dumps({"tier": tier}).encode())

        def committed() -> Any:
            fresh = [e for e in self.backups(target) if e.backup_id not in before and e.complete]
            return fresh[0] if fresh else None

        return wait_until(committed, timeout, f"a {tier} {target} backup")

    def publish_restore(self, body: Mapping[str, Any]) -> str:
        """``gcloud pubsub topics publish dr-restore --message '...'``; returns the request id."""
        import os
        import subprocess

        message = json.dumps(body)
        done = subprocess.run(
            ["gcloud", "pubsub", "topics", "publish", "dr-restore", "--message", message,
             "--format=json"],
            env={**os.environ, **self.gcloud_env}, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"gcloud publish failed: {done.stderr}")
        (message_id,) = json.loads(done.stdout)["messageIds"]
        return str(body.get("request_id") or f"msg-{message_id}")

    def status(self, request_id: str) -> dict[str, Any] | None:
        from shared.restore.status import StatusStore

        record = StatusStore(clients_storage().bucket(STATE_BUCKET)).get(request_id)
        return dict(record.data) if record is not None else None

    def wait_status(self, request_id: str, timeout: float = 180.0) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            record = self.status(request_id)
            return record if record and record["phase"] in FINAL_PHASES else None

        return dict(wait_until(ended, timeout, f"restore request {request_id}"))

    def restore(self, body: Mapping[str, Any], timeout: float = 180.0) -> dict[str, Any]:
        return self.wait_status(self.publish_restore(body), timeout)


FINAL_PHASES = ("Completed", "Planned", "Refused", "PartiallyFailed", "Failed")


@contextlib.contextmanager
def deployed_platform(workdir: Path) -> Iterator[Platform]:
    """The functions deployed on a fresh stack (nothing seeded), with mail and webhook receivers.

    The process environment points at the stack while it runs (as
    ``eval "$(python3 -m tests.devstack env)"`` does for a shell), so library
    calls and the ``dr`` console reach the same servers as the functions.
    """
    from tests.conftest import patched_environ
    from tests.servers_mail import run_smtp

    webhook = start_webhook()
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(webhook.close)
        smtp = cleanup.enter_context(contextlib.contextmanager(run_smtp)())
        stack = cleanup.enter_context(Stack(workdir=workdir))
        stack.start(STACK_SERVICES)
        cleanup.enter_context(patched_environ(stack.env()))
        product_settings = settings(stack, smtp.port, webhook.url)
        deploy(stack, product_settings)
        platform = Platform(stack, product_settings, workdir / "gcloud")
        platform.start_scheduler()
        cleanup.callback(platform.stop_scheduler)
        platform.received_mail = smtp.received
        platform.webhook = webhook
        yield platform


@contextlib.contextmanager
def running_platform(
    workdir: Path, backups: Sequence[tuple[str, str]] = (), objects: int = 30, people: int = 200
) -> Iterator[Platform]:
    """:func:`deployed_platform`, seeded, with ``backups`` (target, tier) taken."""
    with deployed_platform(workdir / "stack") as platform:
        seed_buckets(objects_per_bucket=objects)
        seed_mongo(platform.stack.mongo.uri(), people=people)
        seed_firestore(platform.stack.project)
        for target, tier in backups:
            platform.backup(target, tier)
        yield platform
