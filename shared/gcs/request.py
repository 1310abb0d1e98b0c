"""A Cloud Storage restore request: the guide's ``gcs_restore.sh`` flags, one field each.

``--source-bucket`` → ``source_bucket``, ``--version-date`` → ``version_date``
(a date, the end of that UTC day, or a timestamp with a time zone),
``--target-bucket`` → ``target_bucket``, ``--test-mode`` → ``test_mode``,
plus ``delete_extra`` (remove objects the snapshot does not hold) and
``confirm`` (the bucket's name, to overwrite one that holds objects).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.dates import parse_version_date
from shared.errors import RequestError
from shared.gcs.run import TARGET, check_bucket_name
from shared.restore.schema import BUCKET
from shared.target import RequestShape


@dataclass(frozen=True)
class GcsRestoreRequest:
    """One restore of one bucket; valid once built (bad names and contradictions raise).

    Checked here rather than only in the message schema, so the library
    (:func:`shared.gcs.bucket_restore.restore_bucket`) called directly gets
    the same clear :class:`RequestError` as a ``dr-restore`` message.
    """

    source_bucket: str
    version_date: datetime | None = None
    target_bucket: str | None = None
    test_mode: bool = False
    dry_run: bool = False
    delete_extra: bool = False
    confirm: str | None = None

    def __post_init__(self) -> None:
        check_bucket_name(self.source_bucket, "source_bucket")
        if self.target_bucket is not None:
            check_bucket_name(self.target_bucket, "target_bucket")
        if self.test_mode and (self.target_bucket or self.delete_extra):
            raise RequestError(
                "test mode restores into a new temporary bucket: "
                "target_bucket and delete_extra do not apply"
            )

    @property
    def destination(self) -> str:
        """The bucket written (test mode: a scratch bucket, named when it is created)."""
        return self.target_bucket or self.source_bucket

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> GcsRestoreRequest:
        """From message fields (``version_date`` as text); RequestError naming a bad one."""
        return cls(
            source_bucket=fields["source_bucket"],
            version_date=parse_version_date(fields.get("version_date")),
            target_bucket=fields.get("target_bucket"),
            test_mode=bool(fields.get("test_mode", False)),
            dry_run=bool(fields.get("dry_run", False)),
            delete_extra=bool(fields.get("delete_extra", False)),
            confirm=fields.get("confirm"),
        )


SHAPE: RequestShape[GcsRestoreRequest] = RequestShape(
    name=TARGET,
    properties={
        "source_bucket": BUCKET,
        "target_bucket": BUCKET,
        "version_date": {
            "type": "string",
            "minLength": 10,
            "description": "a date YYYY-MM-DD or a timestamp with a time zone",
        },
        "delete_extra": {"type": "boolean"},
    },
    required=("source_bucket",),
    parse=GcsRestoreRequest.from_fields,
    destinations=("target_bucket",),
    reserved={"target_bucket": (r"^goog", r"google|g00gle", r"-drtest-")},
)
