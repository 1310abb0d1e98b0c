"""The dr-restore message schema: every guide form accepted, a corpus of 200+ bad messages refused."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from shared.dates import parse_version_date
from shared.errors import RequestError
from shared.events import PubSubMessage
from shared.registry import shapes
from shared.restore.ending import exit_code_for
from shared.restore.schema import validate

SHAPES = shapes()

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
    request = validate(body, SHAPES)
    assert request.target == body["target"]
    assert "target" not in request.fields


def test_the_corpus_is_large_enough() -> None:
    assert len(MALFORMED) >= 200


@pytest.mark.parametrize(
    "raw", MALFORMED, ids=[f"malformed-{i:03d}" for i in range(len(MALFORMED))]
)
def test_every_malformed_message_is_refused_with_a_request_error(raw: bytes) -> None:
    with pytest.raises(RequestError) as caught:
        validate(PubSubMessage(raw, "m").json(), SHAPES)
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
        validate(body, SHAPES)


def test_version_date_forms() -> None:
    assert str(parse_version_date("2025-03-25")) == "2025-03-25 23:59:59.999999+00:00"
    assert str(parse_version_date("2025-03-25T14:00:00+02:00")) == "2025-03-25 12:00:00+00:00"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"dry_run": true, "target": "gcs", "dry_run": false}', "'dry_run' is given more than"),
        (b'{"a": {"b": 1, "b": 2}}', "'b' is given more than once"),
        (b'{"hour": NaN}', "NaN is not a JSON number"),
        (b'{"hour": Infinity}', "Infinity is not a JSON number"),
        (b'{"hour": 1e400}', "out of range"),
        (b'{"hour": ' + b"1" * 4301 + b"}", "a number of 4301 digits"),
        (b'{"confirm": "a\\udc00b"}', "confirm holds '\\udc00', a lone surrogate"),
        (b'{"collection_ids": ["ok", "\\ud83d"]}', "collection_ids[1] holds"),
        (b'{"\\ud800": 1}', "a field name in request holds"),
        (b'{"target": "\xc3\x28"}', "not UTF-8 text (invalid byte at offset 12)"),
        (b'{"x": ' + b"[" * 9 + b"]" * 9 + b"}", "field x[0][0][0][0][0][0][0] is nested"),
        (b"[" * 100_000 + b"]" * 100_000, "limit is 65536"),
        (b"[" * 30_000, "nested too deeply"),
    ],
)
def test_a_body_that_could_be_read_two_ways_is_refused_naming_the_field(
    raw: bytes, expected: str
) -> None:
    with pytest.raises(RequestError) as caught:
        PubSubMessage(raw, "m").json()
    assert expected in str(caught.value)


@pytest.mark.parametrize("hour", [14.0, -0.0, 10.0, True, 2**70])
def test_an_integer_field_takes_only_json_integers_in_range(hour: object) -> None:
    with pytest.raises(RequestError, match="hour"):
        validate(
            {"target": "mongodb", "date": "2025-03-25", "type": "hourly", "hour": hour}, SHAPES
        )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"target": "mongodb", "date": "2025-03-25", "target_db": "admin"}, "reserved name"),
        ({"target": "mongodb", "date": "2025-03-25", "target_db": "LOCAL"}, "reserved name"),
        ({"target": "mongodb", "date": "2025-03-25", "target_db": "x_drtest_1"}, "reserved"),
        ({"target": "gcs", "source_bucket": "a-b", "target_bucket": "goog-x"}, "reserved"),
        ({"target": "gcs", "source_bucket": "a-b", "target_bucket": "a-drtest-1"}, "reserved"),
        ({"target": "firestore", "date": "2025-03-25", "target_database": "dr-test-1"}, "reserved"),
        (
            {"target": "mongodb", "date": "2025-03-25", "test_mode": True, "target_db": "x"},
            "test_mode restores into a scratch copy it creates and deletes; target_db cannot",
        ),
        (
            {"target": "gcs", "source_bucket": "a-b", "test_mode": True, "target_bucket": "c-d"},
            "test_mode restores into a scratch copy it creates and deletes; target_bucket cannot",
        ),
        (
            {"target": "firestore", "date": "2025-03-25", "test_mode": True,
             "target_project": "other-project"},
            "test_mode restores into a scratch copy it creates and deletes; target_project cannot",
        ),
    ],
)  # fmt: skip
def test_reserved_destinations_and_test_mode_with_a_destination_are_refused(
    body: dict[str, object], expected: str
) -> None:
    with pytest.raises(RequestError, match=re.escape(expected)):
        validate(body, SHAPES)


@pytest.mark.parametrize(
    ("record", "code"),
    [
        ({"phase": "Completed"}, 0),
        ({"phase": "Planned"}, 0),
        ({"phase": "Refused", "exit_code": 73}, 73),
        ({"phase": "PartiallyFailed"}, 65),
        ({"phase": "Failed", "exit_code": 66}, 66),
        ({"phase": "Failed"}, 70),
        ({"phase": "InProgress"}, 75),
    ],
)
def test_the_exit_code_follows_from_the_phase(record: dict[str, object], code: int) -> None:
    assert exit_code_for(record) == code
