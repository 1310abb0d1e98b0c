"""The pure parts of Cloud Storage backups: copy paths, entries, messages, critical files, dates."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.dates import parse_version_date
from shared.errors import ConfigError, RequestError
from shared.gcs.critical import CriticalFile
from shared.gcs.reader import Position, SortedLookup
from shared.gcs.run import ShardRef
from shared.gcs.snapshot import MAX_OBJECT_NAME_BYTES, ObjectEntry, copy_path
from shared.gcs.steps import ListCursor, ListRef
from shared.manifest import RunLocation

SOURCES = ("eyewearml-assets", "eyewearml-models")


def entry(
    name: str, generation: int = 1, crc32c: str | None = "AAAAAA==", **changes: Any
) -> ObjectEntry:
    fields: dict[str, Any] = {
        "name": name, "generation": generation, "size": 3, "crc32c": crc32c,
        "md5": "bWQ1", "copy": copy_path("b", generation, name),
    }  # fmt: skip
    return ObjectEntry(**{**fields, **changes})


def test_copy_paths_keep_the_name_readable_and_hash_only_overlong_names() -> None:
    assert (
        copy_path("eyewearml-assets", 17, "img/a b.png")
        == "gcs-objects/eyewearml-assets/17/img/a b.png"
    )
    long_name = "é" * 500  # 1000 bytes: with the prefix, over the limit
    hashed = copy_path("eyewearml-assets", 17, long_name)
    assert hashed.startswith("gcs-objects/eyewearml-assets/17.sha256/")
    assert len(hashed.encode()) <= MAX_OBJECT_NAME_BYTES
    assert copy_path("eyewearml-assets", 17, long_name + "x") != hashed


def test_same_bytes_means_same_generation_or_same_size_and_checksums() -> None:
    assert entry("a", 1).same_bytes(entry("a", 1, crc32c="other"))
    assert entry("a", 1).same_bytes(entry("a", 2))  # rewritten with identical content
    assert not entry("a", 1).same_bytes(entry("a", 2, crc32c="BBBBBB=="))
    assert not entry("a", 1).same_bytes(entry("b", 1))
    assert not entry("a", 1, crc32c=None).same_bytes(entry("a", 2, crc32c=None))


def test_entries_round_trip_as_json_lines() -> None:
    original = entry("dir/ü.json", content_type="application/json", metadata={"k": "v"})
    assert ObjectEntry.from_json(json.loads(original.line()), "here") == original


def test_the_merge_walk_finds_names_asked_in_order_and_misses_safely_out_of_order() -> None:
    lookup = SortedLookup(iter([entry("a"), entry("c"), entry("e")]))
    assert lookup.find("a") == entry("a")
    assert lookup.find("b") is None
    assert lookup.find("e") == entry("e")
    assert lookup.find("c") is None  # out of order: a miss, so the object is copied again


@pytest.mark.parametrize(
    ("spec", "bucket", "path"),
    [
        ("models/face-analysis-v2.0/model.pb", None, "models/face-analysis-v2.0/model.pb"),
        ("eyewearml-models/face/model.pb", "eyewearml-models", "face/model.pb"),
        (
            "gs://eyewearml-assets/config/production.json",
            "eyewearml-assets",
            "config/production.json",
        ),
    ],
)
def test_critical_file_forms(spec: str, bucket: str | None, path: str) -> None:
    critical = CriticalFile.parse(spec, SOURCES)
    assert (critical.bucket, critical.path) == (bucket, path)
    assert critical.buckets(SOURCES) == ((bucket,) if bucket else SOURCES)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gs://other-bucket/x.pb", "names bucket 'other-bucket', which is not one of the source"),
        ("gs://eyewearml-assets/", "does not name an object"),
        ("config/", "does not name an object"),
    ],
)
def test_bad_critical_file_entries_name_the_key(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"GCS_CRITICAL_FILES: .*{message}"):
        CriticalFile.parse(spec, SOURCES)


def test_shard_messages_round_trip_and_bad_ones_are_refused() -> None:
    shard = ShardRef(
        RunLocation("", "gcs", "daily", "20250325T030000Z-0123abcd"), "eyewearml-assets", 4
    )
    assert ShardRef.from_message(json.loads(shard.to_message())) == shard
    body = {"tier": "daily", "run_id": "20250325T030000Z-0123abcd", "bucket": "b-1", "shard": 0}
    for bad, message in [
        ({**body, "extra": 1}, "unknown field\\(s\\) \\['extra'\\]"),
        ({k: v for k, v in body.items() if k != "shard"}, "missing \\['shard'\\]"),
        ({**body, "shard": True}, "True is not a shard number"),
        ({**body, "bucket": "../etc"}, "bucket '../etc' is not a valid"),
        ({**body, "tier": "yearly"}, "unknown backup type 'yearly'"),
        ({**body, "run_id": "latest"}, "'latest' is not a run id"),
    ]:
        with pytest.raises(RequestError, match=message):
            ShardRef.from_message(bad)


def test_listing_messages_round_trip_and_bad_ones_are_refused() -> None:
    location = RunLocation("", "gcs", "daily", "20250325T030000Z-0123abcd")
    cursor = ListCursor(3, "token==", 12, "assets/é.png", Position(4096, 123456789))
    listing = ListRef(location, "eyewearml-assets", cursor)
    assert ListRef.from_message(json.loads(listing.to_message())) == listing
    body = json.loads(listing.to_message())
    for bad, message in [
        ({**body, "shard": 0}, "not a listing message"),
        ({**body, "list": {**body["list"], "step": -1}}, "malformed listing position"),
        ({**body, "list": {**body["list"], "base": None}}, "malformed listing position"),
        ({**body, "bucket": "../etc"}, "bucket '../etc' is not a valid"),
        ({**body, "run_id": "latest"}, "'latest' is not a run id"),
    ]:
        with pytest.raises(RequestError, match=message):
            ListRef.from_message(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("2025-03-25", datetime(2025, 3, 25, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2025-03-25T14:00:00Z", datetime(2025, 3, 25, 14, tzinfo=UTC)),
        ("2025-03-25T16:00:00+02:00", datetime(2025, 3, 25, 14, tzinfo=UTC)),
        (date(2025, 3, 25), datetime(2025, 3, 25, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_version_date_forms(value: str | date | None, expected: datetime | None) -> None:
    assert parse_version_date(value) == expected
