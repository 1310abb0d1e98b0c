"""The old operator CLI, now an alias of ``dr``: the old scripts' flags still build the
documented dr-restore messages, and its commands still work."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import cli
from shared.restore.status import StatusStore

FLAGS = [
    ("mongodb --date 2025-03-25 --type daily --test-mode",
     {"target": "mongodb", "date": "2025-03-25", "type": "daily", "test_mode": True}),
    ("mongodb --date 2025-03-25 --hour 14 --type hourly --drop --confirm eyewear_ml",
     {"target": "mongodb", "date": "2025-03-25", "hour": 14, "type": "hourly", "drop": True,
      "confirm": "eyewear_ml"}),
    ("mongodb --date 2025-03-25 --target-db eyewear_ml_restored",
     {"target": "mongodb", "date": "2025-03-25", "target_db": "eyewear_ml_restored"}),
    ("firestore --date 2025-03-25 --target-project eyewearml-project-restored",
     {"target": "firestore", "date": "2025-03-25", "target_project": "eyewearml-project-restored"}),
    ("firestore --date 2025-03-25 --target-database restored --rewrite-references",
     {"target": "firestore", "date": "2025-03-25", "target_database": "restored",
      "rewrite_references": True}),
    ("firestore --date 2025-03-25 --collection-ids users,products --target-database restored",
     {"target": "firestore", "date": "2025-03-25", "collection_ids": ["users", "products"],
      "target_database": "restored"}),
    ("gcs --source-bucket assets-bucket --version-date 2025-03-25 --confirm assets-bucket",
     {"target": "gcs", "source_bucket": "assets-bucket", "version_date": "2025-03-25",
      "confirm": "assets-bucket"}),
    ("gcs --source-bucket assets-bucket --target-bucket assets-bucket-restored --dry-run",
     {"target": "gcs", "source_bucket": "assets-bucket", "target_bucket": "assets-bucket-restored",
      "dry_run": True}),
]  # fmt: skip


@pytest.mark.parametrize(("flags", "expected"), FLAGS, ids=[flags for flags, _ in FLAGS])
def test_the_old_flags_build_the_documented_message(
    flags: str, expected: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["restore", *flags.split(), "--print"]) == 0
    message, command = capsys.readouterr().out.splitlines()
    assert json.loads(message) == expected
    assert command.startswith("gcloud pubsub topics publish dr-restore --message '{")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("mongodb --date 2025-02-30", "date is '2025-02-30'; expected a date YYYY-MM-DD"),
        (
            "mongodb --date 2025-03-25 --type daily --hour 3",
            "hour is only valid with type 'hourly'",
        ),
        ("gcs --source-bucket Bad_Bucket", "source_bucket is 'Bad_Bucket'"),
    ],
)
def test_bad_flags_fail_before_anything_is_published(
    flags: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["restore", *flags.split(), "--print"]) == 64
    assert expected in capsys.readouterr().err


def test_status_reads_the_record_and_shows_the_time_to_restore(
    storage_client: Any,
    bucket_name: str,
    stack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = storage_client.create_bucket(bucket_name)
    times = iter(datetime(2025, 3, 25, 9, 0, s, tzinfo=UTC) for s in (0, 10, 10, 42, 42))
    store = StatusStore(bucket, clock=lambda: next(times))
    store.create("drill-7", {"target": "gcs"}, "m-7")
    store.set_phase("drill-7", "InProgress")
    store.set_phase("drill-7", "Completed", result={"verified": True})
    monkeypatch.setenv("DR_STATE_BUCKET", bucket_name)
    assert cli.main(["status", "drill-7"]) == 0
    out = capsys.readouterr().out
    assert "Completed" in out
    assert "42.0 s" in out
    assert cli.main(["status", "no-such-request"]) == 66  # NotFound


def test_the_alias_follows_only_with_wait() -> None:
    assert cli.translate(["restore", "gcs", "--source-bucket", "b", "--wait"]) == [
        "restore",
        "gcs",
        "--source-bucket",
        "b",
    ]
    assert cli.translate(["--project", "p", "restore", "gcs", "--source-bucket", "b"]) == [
        "--project",
        "p",
        "restore",
        "gcs",
        "--source-bucket",
        "b",
        "--no-wait",
    ]
    assert cli.translate(["backups", "mongodb", "--type", "daily"]) == [
        "backups",
        "mongodb",
        "--type",
        "daily",
    ]


def test_a_manual_backup_goes_to_the_manual_tier_unless_a_scheduled_one_is_named() -> None:
    from shared.console.backups import backup

    (tier,) = [param for param in backup.params if param.name == "tier"]
    assert tier.default == "manual"
    assert "daily" in tier.type.choices  # type: ignore[attr-defined]
