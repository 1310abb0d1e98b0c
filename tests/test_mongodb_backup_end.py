"""How a MongoDB backup run ends: one manifest, one report, whatever went wrong.

The run ends through :func:`shared.backup_end.end_backup`; the reports are
counted as mails on a real SMTP server, and Cloud Storage's lost responses and
refusals are injected by the recording proxy in front of fake-gcs-server.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import clients, config
from shared.backup_end import apply_retention
from shared.catalog import Catalog
from shared.clock import Clock
from shared.errors import ConfigError, PermissionDenied, SourceUnavailable
from shared.keys import FileKeyring
from shared.manifest import Manifest, RunLocation, new_run_id
from shared.mongodb import commands
from shared.mongodb.backup import run_backup
from shared.mongodb.target import MongoBackupTarget, run_end
from shared.target import BackupTarget
from tests import mongodata, servers_mail
from tests.devstack.mongo import unique_db_name
from tests.devstack.process import free_port
from tests.gcsproxy import StorageProxy, proxy
from tests.servers_mail import SmtpServer

__all__ = ["proxy", "smtp_server"]  # fixtures, imported for use here
smtp_server = servers_mail.smtp_server

NOW = dt.datetime(2025, 3, 25, 1, tzinfo=dt.UTC)
PASSWORD = "never-in-a-report-5c4b3a"
MANIFEST = rb'"name": ?"[^"]*/manifest\.json"'  # an upload names its object in its body
JOB = "projects/demo-eyewearml/locations/us-central1/jobs/dr-mongodb"


@pytest.fixture
def source(mongo_client: Any) -> Iterator[str]:
    name = unique_db_name("end")
    mongo_client[name].frames.insert_many([{"_id": n, "model": f"EW-{n}"} for n in range(50)])
    yield name
    mongo_client.drop_database(name)


def at(moment: dt.datetime) -> Clock:
    return lambda: moment


def mail_keys(server: SmtpServer) -> dict[str, str]:
    return {
        "NOTIFY_EMAIL": "ops@eyewear.example",
        "SMTP_HOST": server.host,
        "SMTP_PORT": str(server.port),
        "SMTP_STARTTLS": "false",
    }


def backup(settings: Any, key_file: str) -> Manifest:
    """One run as the job runs it, with the product's own bucket client (through the proxy)."""
    bucket = clients.storage_client().bucket(settings.bucket)
    location = RunLocation(settings.prefix, "mongodb", "daily", new_run_id(NOW))
    end = run_end(settings, bucket, lambda: NOW, secrets=[settings.uri])
    return run_backup(settings, location, end=end, keyring=FileKeyring([key_file]))


def subjects(server: SmtpServer) -> list[str]:
    return [str(mail.message["Subject"]) for mail in server.received]


@pytest.fixture
def proxied(
    proxy: StorageProxy,
    storage_client: Any,
    bucket_name: str,
    mongo_server: Any,
    source: str,
    key_file: str,
    smtp_server: SmtpServer,
) -> Any:
    """Settings whose backup bucket the product reaches through the proxy; reports by mail."""
    storage_client.create_bucket(bucket_name)
    keys = mail_keys(smtp_server)
    return mongodata.mongo_settings(mongo_server.uri(), bucket_name, source, key_file, **keys)


def test_a_commit_whose_response_was_lost_is_read_back_and_reported_once(
    proxy: StorageProxy,
    proxied: Any,
    storage_client: Any,
    source: str,
    key_file: str,
    smtp_server: SmtpServer,
) -> None:
    settings = proxied
    lost = proxy.add("POST", r"^/upload/", 503, times=1, lost=True, body=MANIFEST)
    manifest = backup(settings, key_file)
    assert lost.served == 1
    creates = [s for s in proxy.requests("objects.insert") if re.search(MANIFEST, s.body)]
    assert len(creates) == 2  # the create that landed, then its retry that met it (412)
    (entry,) = Catalog(storage_client.bucket(settings.bucket), "mongodb").entries()
    assert entry.manifest == manifest
    assert manifest.ok
    assert manifest.counts == {f"{source}.frames": 50}
    assert len(smtp_server.received) == 1
    assert "succeeded" in subjects(smtp_server)[0].lower()


def test_a_failed_dump_commits_a_failed_manifest_and_sends_one_report(
    bucket: Any, key_file: str, smtp_server: SmtpServer, stack_env: dict[str, str]
) -> None:
    uri = f"mongodb://dr:{PASSWORD}@127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=300"
    settings = mongodata.mongo_settings(
        uri, bucket.name, "shop", key_file, **mail_keys(smtp_server)
    )
    with pytest.raises(SourceUnavailable):
        backup(settings, key_file)
    (failed,) = Catalog(bucket, "mongodb").entries()
    assert failed.manifest is not None
    assert failed.manifest.status == "failed"
    assert "SourceUnavailable" in str(failed.manifest.error)
    (mail,) = smtp_server.received
    assert "fail" in str(mail.message["Subject"]).lower()
    assert "SourceUnavailable" in "".join(mail.texts())
    assert PASSWORD not in mail.data.decode("utf-8", "replace")


def test_a_run_that_cannot_commit_its_manifest_is_reported_once(
    proxy: StorageProxy, proxied: Any, storage_client: Any, key_file: str, smtp_server: SmtpServer
) -> None:
    settings = proxied
    proxy.add("POST", r"^/upload/", 403, body=MANIFEST)  # every manifest create is refused
    with pytest.raises(PermissionDenied):
        backup(settings, key_file)
    assert Catalog(storage_client.bucket(settings.bucket), "mongodb").backups() == []
    (mail,) = smtp_server.received
    text = "".join(mail.texts())
    assert "the manifest could not be committed" in text
    assert "PermissionDenied" in text


def test_a_run_without_a_usable_key_ends_as_a_failed_manifest(
    bucket: Any,
    mongo_server: Any,
    source: str,
    smtp_server: SmtpServer,
    stack_env: dict[str, str],
    tmp_path: Path,
) -> None:
    environ = {
        **stack_env,
        "MONGODB_URI": mongo_server.uri(),
        "MONGODB_GCS_BUCKET": bucket.name,
        "MONGODB_DB_NAME": source,
        "ENCRYPTION_KEY_FILE": str(tmp_path / "missing.key"),
        **mail_keys(smtp_server),
    }
    with pytest.raises(ConfigError, match=r"missing\.key"):
        commands.backup_command(
            config_file=None,
            tier="daily",
            run_id=None,
            dry_run=False,
            environ=environ,
            clock=lambda: NOW,
        )
    (failed,) = Catalog(bucket, "mongodb").entries()
    assert failed.manifest is not None
    assert "ConfigError" in str(failed.manifest.error)
    assert len(smtp_server.received) == 1


def test_the_functions_settings_need_no_uri_and_name_what_is_missing() -> None:
    keys = {"MONGODB_GCS_BUCKET": "backups", "DR_MONGODB_JOB": JOB, "MONGODB_DB_NAME": "shop"}
    settings = config.mongodb_function_settings(config.sources(environ={}, overrides=keys))
    assert (settings.job, settings.bucket, settings.db_name) == (JOB, "backups", "shop")
    with pytest.raises(ConfigError, match="DR_MONGODB_JOB"):
        config.mongodb_function_settings(
            config.sources(environ={}, overrides={"MONGODB_GCS_BUCKET": "backups"})
        )


def test_the_backup_targets_retention_plan_writes_nothing(
    bucket: Any, mongo_server: Any, source: str, key_file: str, stack_env: dict[str, str]
) -> None:
    """The function's target prunes the runs the job made, by the same policy, without the URI."""
    job = mongodata.mongo_settings(mongo_server.uri(), bucket.name, source, key_file)
    for day in (23, 24, 25):
        when = dt.datetime(2025, 3, day, 1, tzinfo=dt.UTC)
        location = RunLocation("", "mongodb", "daily", new_run_id(when))
        end = run_end(job, bucket, at(when))
        run_backup(job, location, end=end, keyring=FileKeyring([key_file]))
    keys = {"MONGODB_GCS_BUCKET": bucket.name, "DR_MONGODB_JOB": JOB, "RETENTION_DAILY": "1"}
    settings = config.mongodb_function_settings(config.sources(environ={}, overrides=keys))
    target: BackupTarget = MongoBackupTarget(settings, clock=lambda: NOW)
    before = sorted(blob.name for blob in bucket.list_blobs())
    # RETENTION_DAILY=1 keeps the 25th; the guard rails keep the newest one a day old, the 24th
    assert apply_retention(target.run_end(), dry_run=True) == "would remove 1 run(s)"
    assert sorted(blob.name for blob in bucket.list_blobs()) == before
    assert apply_retention(target.run_end()) == "removed 1 run(s)"
    slots = [e.location.slot for e in Catalog(bucket, "mongodb").backups()]
    assert slots == ["2025-03-25", "2025-03-24"]
