"""Cut-over day end to end: the old scripts' backups imported, then restored through ``dr-restore``.

The platform is deployed as in production (functions behind Pub/Sub push,
the MongoDB job through the Cloud Run stand-in, Firestore imports through
the Admin API stand-in), with the old scripts' key file listed in
ENCRYPTION_KEY_FILE next to the new key in Secret Manager. The legacy
backups are made with the old scripts' tools: ``gzip``, ``tar`` and
``openssl enc`` for MongoDB dumps, ``gcloud firestore export`` for
Firestore, and ``gcloud storage rsync`` (gsutil's successor, which reaches
fake-gcs-server over plain http) for Cloud Storage. ``dr import`` registers
them; the restore requests are published with the real ``gcloud`` CLI.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests import eyewear, legacydumps
from tests.conftest import patched_environ
from tests.devstack.stack import Stack
from tests.polling import wait_until

DAY = "2025-03-25"
FIRESTORE_EXPORT = f"gs://{eyewear.BACKUP_BUCKET}/firestore_backups/{DAY}"
GCS_COPIES = f"gs://{eyewear.BACKUP_BUCKET}/gcs_backups/{DAY}/eyewearml-assets"


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, require_installed: Any
) -> Iterator[eyewear.Platform]:
    """The platform without reports (not under test here), with the old scripts' key file.

    The key file holds a hex line, as ``openssl rand -hex 32`` writes it: the
    old scripts' ``-pass file:`` passphrase, and a valid key file of ours.
    """
    require_installed(*eyewear.STACK_SERVICES, "functions")
    workdir = tmp_path_factory.mktemp("cutover")
    old_key = workdir / "backup_encryption.key"
    subprocess.run(["openssl", "rand", "-hex", "-out", str(old_key), "32"], check=True)
    with Stack(workdir=workdir / "stack") as stack:
        stack.start(eyewear.STACK_SERVICES)
        with patched_environ(stack.env()):
            settings = {
                key: value
                for key, value in eyewear.settings(stack, 0, "").items()
                if not key.startswith(("NOTIFY_", "SMTP_"))
            }
            settings["ENCRYPTION_KEY_FILE"] = str(old_key)
            eyewear.deploy(stack, settings)
            eyewear.seed_buckets(objects_per_bucket=20)
            eyewear.seed_firestore(stack.project)
            eyewear.seed_mongo(stack.mongo.uri(), people=50)
            platform = eyewear.Platform(stack, settings, workdir / "gcloud")
            platform.start_scheduler()
            try:
                with patched_environ(settings):
                    yield platform
            finally:
                platform.stop_scheduler()


def _gcloud(platform: eyewear.Platform, *args: str, **extra: str) -> str:
    done = subprocess.run(
        ["gcloud", *args],
        env={**os.environ, **platform.gcloud_env, **extra},
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _dr_import(*args: str) -> str:
    from shared.console.legacy import import_command

    done = CliRunner().invoke(import_command, list(args))
    assert done.exit_code == 0, done.output
    return done.output


def _completed(platform: eyewear.Platform, body: dict[str, Any]) -> dict[str, Any]:
    status = platform.restore(body, timeout=240)
    assert status["phase"] == "Completed", json.dumps(status, indent=1)
    assert status["result"]["verified"] is True, status["result"]
    return dict(status["result"])


@pytest.mark.parametrize(
    ("kind", "day"), [("archive.gz.enc-pbkdf2", DAY), ("dir.tgz.enc-md5", "2025-03-24")]
)
def test_old_mongodb_dumps_restore_through_dr_restore(
    platform: eyewear.Platform, tmp_path: Path, kind: str, day: str
) -> None:
    key_file = platform.settings["ENCRYPTION_KEY_FILE"]
    dump = legacydumps.build(kind, tmp_path, key_file)
    printed = _dr_import("mongodb", str(dump), "--date", day, "--hour", "1")
    assert f"mongodb/daily/{day}/" in printed
    result = _completed(
        platform, {"target": "mongodb", "date": day, "type": "daily", "test_mode": True}
    )
    assert result["counts"]["eyewear_ml.users"] == 40
    target = f"eyewear_ml_from_{kind.split('.', maxsplit=1)[0]}"
    result = _completed(platform, {"target": "mongodb", "date": day, "target_db": target})
    import pymongo

    client: Any
    with pymongo.MongoClient(platform.settings["MONGODB_URI"]) as client:
        assert client[target].users.count_documents({}) == 40
        client.drop_database(target)


def test_an_old_firestore_export_restores_through_dr_restore(platform: eyewear.Platform) -> None:
    from google.cloud import firestore

    from shared.firestore import verify

    admin = platform.stack.env()["DR_FIRESTORE_ADMIN_ENDPOINT"]
    _gcloud(
        platform, "firestore", "export", FIRESTORE_EXPORT, "--async",
        CLOUDSDK_API_ENDPOINT_OVERRIDES_FIRESTORE=admin.rstrip("/") + "/",
    )  # fmt: skip
    folder = FIRESTORE_EXPORT.removeprefix(f"gs://{eyewear.BACKUP_BUCKET}/")
    overall = f"{folder}/{DAY}.overall_export_metadata"
    backups = eyewear.clients_storage().bucket(eyewear.BACKUP_BUCKET)
    wait_until(lambda: backups.get_blob(overall), 120, "the gcloud firestore export")
    printed = _dr_import("firestore", FIRESTORE_EXPORT)
    assert f"firestore/daily/{DAY}/" in printed
    check = verify.check_backup(backups, dt.date(2025, 3, 25), "daily")  # the files, in place
    assert check.verified is True, check.problems
    result = _completed(platform, {"target": "firestore", "date": DAY, "test_mode": True})
    client = firestore.Client(project=platform.stack.project)
    users = client.collection("users").count().get()[0][0].value
    assert result["counts"]["users"] == users > 0


def test_old_gsutil_copies_restore_at_their_date(platform: eyewear.Platform) -> None:
    _gcloud(platform, "storage", "rsync", "-r", "gs://eyewearml-assets", GCS_COPIES)
    printed = _dr_import("gcs", GCS_COPIES, "--source-bucket", "eyewearml-assets")
    assert f"gcs/daily/{DAY}/" in printed
    body = {"target": "gcs", "source_bucket": "eyewearml-assets", "version_date": DAY,
            "target_bucket": "eyewearml-assets-restored"}  # fmt: skip
    _completed(platform, body)
    storage = eyewear.clients_storage()
    source = {(b.name, b.crc32c) for b in storage.list_blobs("eyewearml-assets")}
    restored = {(b.name, b.crc32c) for b in storage.list_blobs("eyewearml-assets-restored")}
    assert restored == source


def test_dr_compare_shows_old_and_new_backups_side_by_side(
    platform: eyewear.Platform, tmp_path: Path
) -> None:
    """Old dumps in the old MONGODB_BACKUP_DIR, one of them imported, and a new daily backup."""
    from shared.console.legacy import compare_command

    old_dir = tmp_path / "backup_dir"
    old_dir.mkdir()
    imported = legacydumps.build("archive.gz", old_dir, platform.settings["ENCRYPTION_KEY_FILE"])
    (old_dir / "eyewear_ml_20250321_010000.archive.gz").write_bytes(imported.read_bytes())
    _dr_import("mongodb", str(imported))
    platform.backup("mongodb", "daily")
    done = CliRunner().invoke(compare_command, ["mongodb", "--old", str(old_dir)])
    assert done.exit_code == 0, done.output
    rows = {line.split("│")[1].strip(): line for line in done.output.splitlines() if "│" in line}
    assert "both" in rows[DAY]
    assert "(imported)" in rows[DAY]
    assert "old only" in rows["2025-03-21"]
    today = max(day for day in rows if day.startswith("20"))
    assert "new only" in rows[today]
    assert "2025-03-21" in done.output.splitlines()[-1]  # the day without a good new backup
