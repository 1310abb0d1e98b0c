"""The run layout and the manifest format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import IntegrityError, RequestError
from shared.manifest import Artifact, Manifest, RunLocation, new_run_id, run_started

WHEN = datetime(2025, 3, 25, 14, 3, 7, tzinfo=UTC)


def test_run_ids_carry_their_start_time_and_sort_by_it() -> None:
    first, second = new_run_id(WHEN), new_run_id(WHEN.replace(hour=15))
    assert first.startswith("20250325T140307Z-")
    assert run_started(first) == WHEN
    assert sorted([second, first]) == [first, second]
    assert new_run_id(WHEN) != first


@pytest.mark.parametrize(
    ("tier", "directory"),
    [
        ("daily", "mongodb/daily/2025-03-25/"),
        ("hourly", "mongodb/hourly/2025-03-25T14/"),
        ("monthly", "mongodb/monthly/2025-03-25/"),
    ],
)
def test_the_layout_follows_the_guides_flags(tier: str, directory: str) -> None:
    location = RunLocation("backups/mongo/", "mongodb", tier, "20250325T140307Z-0123abcd")
    assert location.directory == f"backups/mongo/{directory}20250325T140307Z-0123abcd/"
    assert location.manifest_path.endswith("/20250325T140307Z-0123abcd/manifest.json")
    assert RunLocation.parse(location.path("dump.tar.zst.enc")) == location


@pytest.mark.parametrize(
    "name",
    [
        "gcs-objects/bucket/123/mongodb/daily/2025-03-25/x",
        "mongodb/daily/2025-03-26/20250325T140307Z-0123abcd/manifest.json",  # slot disagrees with run id
        "mongodb/yearly/2025-03-25/20250325T140307Z-0123abcd/manifest.json",
        "mongodb/daily/2025-03-25/not-a-run/manifest.json",
    ],
)
def test_objects_outside_the_layout_are_not_runs(name: str) -> None:
    assert RunLocation.parse(name) is None


@pytest.mark.parametrize(
    ("target", "tier", "run_id", "expected"),
    [
        ("Mongo-DB", "daily", "20250325T140307Z-0123abcd", "is not a target name"),
        ("mongodb", "yearly", "20250325T140307Z-0123abcd", "unknown backup type 'yearly'"),
        ("mongodb", "daily", "latest", "'latest' is not a run id"),
    ],
)
def test_bad_locations_are_refused(target: str, tier: str, run_id: str, expected: str) -> None:
    with pytest.raises(RequestError, match=expected):
        RunLocation("", target, tier, run_id)


def manifest() -> Manifest:
    location = RunLocation("", "mongodb", "daily", "20250325T140307Z-0123abcd")
    return Manifest(
        location=location,
        status="succeeded",
        started=WHEN,
        finished=WHEN.replace(minute=9),
        source={"database": "eyewear_ml"},
        artifacts=(Artifact(location.path("dump.tar.zst.enc"), 1234, "ab" * 32, "AAAAAA=="),),
        counts={"documents": 10, "collections": 2},
        key_id="projects/p/secrets/k/versions/1",
        compression="zstd",
        details={"collections": {"users": {"count": 10}}},
    )


def test_a_manifest_round_trips_through_json() -> None:
    original = manifest()
    data = original.to_json()
    assert data["size"] == 1234
    assert Manifest.from_json(data, "here") == original


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"format": "other/9"}, "unknown manifest format 'other/9'"),
        ({"status": "maybe"}, "malformed manifest"),
        ({"started": "2025-03-25T14:03:07"}, "has no time zone"),
        ({"artifacts": [{"path": "x"}]}, "malformed manifest"),
        ({"tier": "yearly"}, "unknown backup type"),
    ],
)
def test_a_malformed_manifest_is_an_integrity_error_naming_where(
    change: dict[str, object], expected: str
) -> None:
    data = {**manifest().to_json(), **change}
    with pytest.raises(IntegrityError, match=f"gs://b/m.json: .*{expected}"):
        Manifest.from_json(data, "gs://b/m.json")
