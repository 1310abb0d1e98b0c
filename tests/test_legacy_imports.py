"""Importing old Firestore exports and Cloud Storage copies: refusals, and what new backups do.

The successful paths run end to end in ``test_legacy_e2e.py`` (the real
``gcloud`` CLI makes the legacy backups there); here, on fake-gcs-server,
the cases an operator gets wrong, the rule that a new Cloud Storage backup
never builds on an imported snapshot, and the pure parts (dates, the
comparison).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from shared.catalog import Catalog
from shared.errors import BackupNotFound, IntegrityError, RequestError
from shared.gcs.backup import run_backup
from shared.gcs.reader import read_snapshot
from shared.gcs.snapshot import COPIES_PREFIX
from shared.legacy import compare, dated, firestore, gcs
from tests.devstack.process import REPO_ROOT
from tests.devstack.storage import unique_bucket_name
from tests.gcsfixtures import fill, make_settings

WHEN = dt.datetime(2025, 3, 25, tzinfo=dt.UTC)
NOW = dt.datetime(2025, 3, 26, tzinfo=dt.UTC)


@pytest.fixture
def buckets(storage_client: Any, stack_env: Mapping[str, str]) -> tuple[Any, Any]:
    return (
        storage_client.create_bucket(unique_bucket_name("src")),
        storage_client.create_bucket(unique_bucket_name("bak")),
    )


def rsync_copy(source: Any, backup: Any, folder: str) -> None:
    """What ``gsutil rsync -r gs://SOURCE gs://BACKUP/FOLDER`` leaves: a copy of every object."""
    for blob in source.client.list_blobs(source):
        source.copy_blob(blob, backup, f"{folder}/{blob.name}")


def test_a_new_backup_never_builds_on_an_imported_snapshot(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    source, backup = buckets
    fill(source, 6)
    rsync_copy(source, backup, f"gcs/2025-03-25/{source.name}")
    url = f"gs://{backup.name}/gcs/2025-03-25/{source.name}/"
    imported = gcs.import_copies(backup, url, source.name, tier="daily", when=WHEN, now=NOW)
    assert imported.counts["objects"] == 6
    manifest = run_backup(make_settings([source.name], backup.name))
    assert manifest.ok
    assert manifest.details["base_run"] is None  # not the imported snapshot
    (artifact,) = manifest.artifacts
    copies = [entry.copy for entry in read_snapshot(backup, artifact)]
    assert len(copies) == 6
    assert all(copy.startswith(COPIES_PREFIX) for copy in copies)


def test_copies_outside_the_backup_bucket_or_an_empty_folder_are_refused(
    buckets: tuple[Any, Any],
) -> None:
    source, backup = buckets
    with pytest.raises(RequestError, match="is not in the backup bucket"):
        gcs.import_copies(backup, f"gs://{source.name}/x", source.name, tier="daily",
                          when=WHEN, now=NOW)  # fmt: skip
    with pytest.raises(BackupNotFound, match="nothing to import"):
        gcs.import_copies(backup, f"gs://{backup.name}/gcs/2025-03-25/none", source.name,
                          tier="daily", when=WHEN, now=NOW)  # fmt: skip
    assert list(backup.list_blobs()) == []


def test_a_folder_that_is_not_a_complete_export_is_refused(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    _, backup = buckets
    backup.blob("firestore/2025-03-25/all_namespaces/all_kinds/output-0").upload_from_string(b"x")
    url = f"gs://{backup.name}/firestore/2025-03-25"
    with pytest.raises(IntegrityError, match="is not a complete export"):
        firestore.import_export(storage_client, backup, url, database="(default)", tier="daily",
                                when=WHEN, now=NOW)  # fmt: skip
    assert Catalog(backup, "firestore").entries() == []
    with pytest.raises(RequestError, match="not a gs://bucket/path URL"):
        firestore.import_export(storage_client, backup, "/var/backups/firestore",
                                database="(default)", tier="daily", when=WHEN, now=NOW)  # fmt: skip


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/backups/mongodb/daily/2025-03-25/eyewear_ml.archive.gz", "2025-03-25T00:00:00"),
        ("/backups/eyewear_ml_20250325_143000.tar.gz.enc", "2025-03-25T14:30:00"),
        ("gs://b/gcs/2025-03-24/eyewearml-assets/models/v2.0/x", "2025-03-24T00:00:00"),
        ("/backups/2024-01-01/eyewear_ml_2025-03-25T01.archive", "2025-03-25T01:00:00"),
    ],
)
def test_the_backup_time_is_the_last_date_in_the_path(path: str, expected: str) -> None:
    assert dated.backup_time(path).replace(tzinfo=None).isoformat() == expected


def test_a_path_without_a_date_needs_one() -> None:
    with pytest.raises(RequestError, match="--date"):
        dated.backup_time("/backups/latest.archive")
    assert dated.backup_time("/backups/latest", dt.date(2025, 3, 2), 5) == dt.datetime(
        2025, 3, 2, 5, tzinfo=dt.UTC
    )


def test_compare_puts_old_files_and_new_runs_on_the_same_day() -> None:
    old = [
        compare.Item("daily/2025-03-25/eyewear_ml.archive.gz", 100),
        compare.Item("daily/2025-03-24/eyewear_ml.archive.gz", 90),
        compare.Item("README", 1),
    ]
    days = compare.rows(old, [])
    assert [(d.day.isoformat(), d.old_files, d.old_bytes, d.verdict) for d in days] == [
        ("2025-03-25", 1, 100, "old only"),
        ("2025-03-24", 1, 90, "old only"),
    ]


def test_the_commands_run_without_the_dr_console() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "shared.legacy", "import", "--help"],
        capture_output=True, text=True, check=False, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Register a backup the old scripts made" in done.stdout


def test_compare_lists_old_copies_in_a_bucket_by_the_date_in_their_path(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    _, backup = buckets
    for name in ("gcs/2025-03-25/assets/a.png", "gcs/2025-03-25/assets/b.png", "gcs/2025-03-26/x"):
        backup.blob(name).upload_from_string(b"12345")
    old = compare.list_old(f"gs://{backup.name}/gcs/", storage_client)
    days = compare.rows(old, [])
    assert [(d.day.isoformat(), d.old_files, d.old_bytes) for d in days] == [
        ("2025-03-26", 1, 5),
        ("2025-03-25", 2, 10),
    ]
