"""Cloud Storage restores on fake-gcs-server: the guide's three forms, test mode, safety, bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.errors import BackupNotFound, IntegrityError, RefusedError, RequestError
from shared.gcs.backup import run_backup
from shared.gcs.bucket_restore import production_name, restore_bucket, temporary_bucket_name
from shared.gcs.request import GcsRestoreRequest
from shared.target import RestoreOutcome
from tests.devstack.storage import unique_bucket_name
from tests.gcsfixtures import T0, Clock, buckets, fill, make_settings, put, state

__all__ = ["buckets"]  # a fixture, imported for use here


@pytest.fixture
def backed_up(storage_client: Any, buckets: tuple[Any, Any]) -> tuple[Any, Any, Any]:
    """A source of 6 objects, backed up once at ``T0``; returns (source, backup, settings)."""
    source, backup = buckets
    fill(source, 6)
    settings = make_settings([source.name], backup.name)
    assert run_backup(settings, clock=Clock(T0)).ok
    return source, backup, settings


class Phases:
    def __init__(self) -> None:
        self.names: list[str] = []

    def phase(self, name: str, **details: Any) -> None:
        self.names.append(name)

    def update(self, **details: Any) -> None:
        pass


def test_restoring_into_the_source_needs_confirmation_and_overwrites_only_what_differs(
    storage_client: Any, backed_up: tuple[Any, Any, Any]
) -> None:
    source, _, settings = backed_up
    original = state(storage_client, source.name)
    put(source, "assets/item-002.bin", b"corrupted by a bad deploy")
    put(source, "assets/stray.bin", b"not in the backup")
    damaged = state(storage_client, source.name)

    with pytest.raises(RefusedError, match=f"repeat with confirm='{source.name}'"):
        restore_bucket(settings, GcsRestoreRequest(source.name))
    assert state(storage_client, source.name) == damaged  # refused before any write

    phases = Phases()
    outcome = restore_bucket(
        settings, GcsRestoreRequest(source.name, confirm=source.name), progress=phases
    )
    assert outcome.verified
    assert outcome.counts["overwritten"] == 1
    assert outcome.counts["unchanged"] == 5
    assert outcome.counts["extra_kept"] == 1  # nothing is deleted unless asked
    assert phases.names == ["Validating", "InProgress", "Verifying"]
    assert state(storage_client, source.name) == {
        **original,
        "assets/stray.bin": damaged["assets/stray.bin"],
    }

    outcome = restore_bucket(
        settings, GcsRestoreRequest(source.name, confirm=source.name, delete_extra=True)
    )
    assert outcome.verified
    assert outcome.counts["deleted"] == 1
    assert state(storage_client, source.name) == original


def test_a_dry_run_plans_without_writing(
    storage_client: Any, backed_up: tuple[Any, Any, Any]
) -> None:
    source, _, settings = backed_up
    put(source, "assets/item-000.bin", b"changed")
    source.blob("assets/item-001.bin").delete()
    put(source, "assets/extra.bin", b"extra")
    before = state(storage_client, source.name)
    outcome = restore_bucket(
        settings, GcsRestoreRequest(source.name, dry_run=True, delete_extra=True)
    )
    assert outcome.mode == "plan"
    assert outcome.verified is None
    assert set(outcome.plan) == {
        "write assets/item-001.bin",
        "overwrite assets/item-000.bin",
        "delete assets/extra.bin",
    }
    assert any("needs confirm=" in note for note in outcome.notes)
    assert state(storage_client, source.name) == before


def test_test_mode_verifies_every_object_and_deletes_its_bucket(
    storage_client: Any, backed_up: tuple[Any, Any, Any]
) -> None:
    source, _, settings = backed_up
    before = {b.name for b in storage_client.list_buckets()}
    outcome = restore_bucket(settings, GcsRestoreRequest(source.name, test_mode=True))
    assert isinstance(outcome, RestoreOutcome)
    assert (outcome.mode, outcome.verified, outcome.counts["objects"]) == ("test", True, 6)
    assert outcome.destination.startswith(f"gs://{source.name[:40]}-drtest-")
    assert {b.name for b in storage_client.list_buckets()} == before


def test_test_mode_reports_a_damaged_copy(
    storage_client: Any, backed_up: tuple[Any, Any, Any]
) -> None:
    """Someone overwrote a copy in the backup bucket (bit rot, an operator's mistake)."""
    source, backup, settings = backed_up
    [copy] = [
        b
        for b in storage_client.list_blobs(backup, prefix="gcs-objects/")
        if b.name.endswith("item-003.bin")
    ]
    backup.blob(copy.name).upload_from_string(b"not the original bytes")
    before = {b.name for b in storage_client.list_buckets()}
    outcome = restore_bucket(settings, GcsRestoreRequest(source.name, test_mode=True))
    assert outcome.verified is False
    assert outcome.counts["failed"] == 1
    assert any(
        note.startswith("assets/item-003.bin: restored bytes differ") for note in outcome.notes
    )
    assert {b.name for b in storage_client.list_buckets()} == before


def test_a_damaged_snapshot_file_is_refused_before_anything_is_written(
    storage_client: Any, backed_up: tuple[Any, Any, Any]
) -> None:
    source, backup, settings = backed_up
    [snapshot] = [b for b in storage_client.list_blobs(backup) if b.name.endswith(".jsonl")]
    text = snapshot.download_as_bytes().replace(b"item-004", b"item-999")
    backup.blob(snapshot.name).upload_from_string(text)
    target = unique_bucket_name("restored")
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        restore_bucket(settings, GcsRestoreRequest(source.name, target_bucket=target))
    assert storage_client.bucket(target).exists() is False


def test_temporary_bucket_names_are_valid() -> None:
    name = temporary_bucket_name("eyewearml.assets-" + "x" * 60)
    assert len(name) <= 63
    assert "." not in name
    assert "-drtest-" in name


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (
            {"version_date": "25/03/2025"},
            RequestError,
            "version_date '25/03/2025' is not YYYY-MM-DD .* or an ISO 8601 timestamp with a time zone",
        ),
        ({"version_date": "2025-03-25T10:00:00"}, RequestError, "has no time zone"),
        ({"version_date": "2025-02-30"}, RequestError, "'2025-02-30' is not YYYY-MM-DD"),
        (
            {"version_date": "2025-03-24"},
            BackupNotFound,
            "no snapshot of bucket .* at or before 2025-03-24T23:59:59.999999\\+00:00 .* the oldest "
            "is from 2025-03-25T03:00:00\\+00:00",
        ),
        (
            {"version_date": (T0 - timedelta(seconds=1)).isoformat()},
            BackupNotFound,
            "at or before 2025-03-25T02:59:59",
        ),
        ({"target_bucket": "Not_A_Bucket!"}, RequestError, "target_bucket 'Not_A_Bucket!' is not"),
        (
            {"test_mode": True, "target_bucket": "somewhere-else"},
            RequestError,
            "target_bucket and delete_extra do not apply",
        ),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message(
    backed_up: tuple[Any, Any, Any], arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    source, _, settings = backed_up
    with pytest.raises(error, match=message):
        restore_bucket(
            settings, GcsRestoreRequest.from_fields({"source_bucket": source.name, **arguments})
        )


def test_an_unknown_bucket_names_the_buckets_that_are_backed_up(
    backed_up: tuple[Any, Any, Any],
) -> None:
    source, _, settings = backed_up
    with pytest.raises(
        BackupNotFound,
        match=f"no snapshot of bucket 'unknown-bucket' .* "
        f"\\(configured source buckets: {source.name}\\)",
    ):
        restore_bucket(settings, GcsRestoreRequest("unknown-bucket"))


@pytest.mark.parametrize(
    ("request_", "holding", "production"),
    [
        (GcsRestoreRequest("src"), set(), "src"),  # back into the source
        (GcsRestoreRequest("src", target_bucket="configured"), set(), "configured"),
        (GcsRestoreRequest("src", target_bucket="fresh"), set(), None),  # a new bucket
        (GcsRestoreRequest("src", target_bucket="fresh"), {"fresh"}, "fresh"),  # holds objects
        (GcsRestoreRequest("src", test_mode=True), {"src"}, None),  # a scratch bucket of its own
    ],
)
def test_one_production_rule_for_the_dispatcher_and_the_library(
    request_: GcsRestoreRequest, holding: set[str], production: str | None
) -> None:
    """The rule the dispatcher asks (``GcsRestoreTarget.production_name``) is the library's."""
    assert production_name(request_, ("src", "configured"), holding.__contains__) == production


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"source_bucket": "Bad_Name"}, "source_bucket 'Bad_Name' is not a valid"),
        ({"source_bucket": "src", "target_bucket": "x"}, "target_bucket 'x' is not a valid"),
        (
            {"source_bucket": "src", "test_mode": True, "delete_extra": True},
            "target_bucket and delete_extra do not apply",
        ),
    ],
)
def test_a_request_is_valid_once_built(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestError, match=message):
        GcsRestoreRequest(**fields)
    with pytest.raises(RequestError, match=message):
        GcsRestoreRequest.from_fields(fields)
