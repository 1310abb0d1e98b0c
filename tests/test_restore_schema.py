"""The dr-restore message schema: every guide form accepted, a corpus of 200+ bad messages refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from shared.dates import parse_version_date
from shared.errors import RequestError
from shared.events import PubSubMessage
from shared.restore.schema import validate

CORPUS = Path(__file__).parent / "data" / "restore" / "malformed.jsonl"
MALFORMED = [base64.b64decode(json.loads(line)["data"]) for line in CORPUS.read_text().splitlines()]

GUIDE_FORMS = [
    # mongodb_restore.sh --date 2025-03-25 --type daily --test-mode
    {"target": "mongodb", "date": "2025-03-25", "type": "daily", "test_mode": True},
    # --date 2025-03-25 --type daily
    {"target": "mongodb", "date": "2025-03-25", "type": "daily", "confirm": "eyewear_ml"},
    # --date 2025-03-25 --hour 14 --type hourly
    {"target": "mongodb", "date": "2025-03-25", "hour": 14, "type": "hourly"},
    # --date 2025-03-25 --target-db eyewear_ml_restored
    {"target": "mongodb", "date": "2025-03-25", "target_db": "eyewear_ml_restored"},
    # firestore_restore.sh --date 2025-03-25 --test-mode
    {"target": "firestore", "date": "2025-03-25", "test_mode": True},
    {"target": "firestore", "date": "2025-03-25", "confirm": "eyewearml-project"},
    {"target": "firestore", "date": "2025-03-25", "target_project": "eyewearml-project-restored"},
    {
        "target": "firestore",
        "date": "2025-03-25",
        "target_database": "restored",
        "collection_ids": ["users"],
    },
    # gcs_restore.sh --source-bucket assets-bucket [--test-mode | --version-date D | --target-bucket T]
    {"target": "gcs", "source_bucket": "assets-bucket", "test_mode": True},
    {"target": "gcs", "source_bucket": "assets-bucket", "confirm": "assets-bucket"},
    {"target": "gcs", "source_bucket": "assets-bucket", "version_date": "2025-03-25"},
    {"target": "gcs", "source_bucket": "assets-bucket", "target_bucket": "assets-bucket-restored"},
    {
        "target": "gcs",
        "source_bucket": "assets-bucket",
        "version_date": "2025-03-25T14:00:00Z",
        "dry_run": True,
        "request_id": "drill-2025q1.gcs",
    },
]


@pytest.mark.parametrize(
    "body", GUIDE_FORMS, ids=lambda body: "-".join(f"{k}={v}" for k, v in body.items())[:60]
)
def test_every_form_of_the_guide_is_accepted(body: dict[str, object]) -> None:
    request = validate(body)
    assert request.target == body["target"]
    assert "target" not in request.fields


def test_the_corpus_is_large_enough() -> None:
    assert len(MALFORMED) >= 200


@pytest.mark.parametrize(
    "raw", MALFORMED, ids=[f"malformed-{i:03d}" for i in range(len(MALFORMED))]
)
def test_every_malformed_message_is_refused_with_a_request_error(raw: bytes) -> None:
    with pytest.raises(RequestError) as caught:
        validate(PubSubMessage(raw, "m").json())
    assert len(str(caught.value)) < 2000  # a message, not a dump


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"target": "mongodb", "date": "2025-02-30"},
            r"date is '2025-02-30'; expected a date YYYY-MM-DD",
        ),
        (
            {"target": "redis", "date": "2025-03-25"},
            r"target is 'redis'; expected one of mongodb, firestore, gcs",
        ),
        ({"date": "2025-03-25"}, r"target is missing"),
        (
            {"target": "gcs", "source_bucket": "a-bucket", "target_db": "x"},
            r"unknown field\(s\) target_db \(allowed: ",
        ),
        (
            {"target": "mongodb", "date": "2025-03-25", "hour": 25},
            r"hour: 25 is greater than the maximum of 23",
        ),
        (
            {"target": "mongodb", "date": "2025-03-25", "type": "daily", "hour": 3},
            r"hour is only valid with type 'hourly'",
        ),
        (
            {"target": "mongodb", "date": "2025-03-25", "test_mode": "yes"},
            r"test_mode: 'yes' is not of type 'boolean'",
        ),
        (
            {"target": "gcs", "source_bucket": "a-bucket", "version_date": "2025-03-25T14:00:00"},
            r"has no time zone",
        ),
        (
            {"target": "gcs", "source_bucket": "a-bucket", "version_date": "soon"},
            r"version_date is 'soon'; expected a date YYYY-MM-DD",
        ),
        (
            {"target": "mongodb", "date": "2025-03-25", "test_mode": True, "confirm": "eyewear_ml"},
            r"confirm has no meaning in test mode",
        ),
    ],
)
def test_messages_name_the_field_and_the_expected_form(
    body: dict[str, object], expected: str
) -> None:
    with pytest.raises(RequestError, match=expected):
        validate(body)


def test_version_date_forms() -> None:
    assert str(parse_version_date("2025-03-25")) == "2025-03-25 23:59:59.999999+00:00"
    assert str(parse_version_date("2025-03-25T14:00:00+02:00")) == "2025-03-25 12:00:00+00:00"
