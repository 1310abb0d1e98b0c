"""A MongoDB restore request: the guide's ``mongodb_restore.sh`` flags, one field each.

``--date`` → ``date``, ``--type`` → ``type``, ``--hour`` → ``hour``,
``--target-db`` → ``target_db``, ``--test-mode`` → ``test_mode``, plus
``drop`` (drop each collection before restoring it), ``confirm`` (the
production database name, required to overwrite it), ``dry_run``, and
mongorestore's namespace selection ``ns_include``, ``ns_exclude``, ``ns_from``,
``ns_to`` (lists; rules in :mod:`shared.mongodb.namespaces`). The same
fields arrive as a ``dr-restore`` message (validated by
:mod:`shared.restore.schema`) or as the job's command-line flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.errors import RequestError
from shared.restore import schema
from shared.target import RequestShape

TARGET = "mongodb"  # the target's name in messages, manifests and the bucket layout
NS_FIELDS = ("ns_include", "ns_exclude", "ns_from", "ns_to")


@dataclass(frozen=True)
class MongoRestoreRequest:
    day: date | None
    tier: str | None = None
    hour: int | None = None
    target_db: str | None = None
    test_mode: bool = False
    drop: bool = False
    confirm: str | None = None
    dry_run: bool = False
    ns_include: tuple[str, ...] = ()
    ns_exclude: tuple[str, ...] = ()
    ns_from: tuple[str, ...] = ()
    ns_to: tuple[str, ...] = ()

    @classmethod
    def from_message(cls, body: Mapping[str, Any]) -> MongoRestoreRequest:
        """From a ``dr-restore`` body (``"target": "mongodb"``), validated by its schema."""
        typed: MongoRestoreRequest = schema.validate({"target": TARGET, **body}, SHAPES).typed
        return typed

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> MongoRestoreRequest:
        """From schema-valid fields (:data:`SHAPE`); refuses what only a combination makes wrong."""
        if fields.get("hour") is not None and fields.get("type", "hourly") != "hourly":
            raise RequestError(f"hour is only valid with type 'hourly', not {fields.get('type')!r}")
        return cls(
            day=date.fromisoformat(fields["date"]) if fields.get("date") else None,
            tier=fields.get("type"),
            hour=fields.get("hour"),
            target_db=fields.get("target_db"),
            test_mode=bool(fields.get("test_mode", False)),
            drop=bool(fields.get("drop", False)),
            confirm=fields.get("confirm"),
            dry_run=bool(fields.get("dry_run", False)),
            ns_include=tuple(fields.get("ns_include") or ()),
            ns_exclude=tuple(fields.get("ns_exclude") or ()),
            ns_from=tuple(fields.get("ns_from") or ()),
            ns_to=tuple(fields.get("ns_to") or ()),
        )

    def to_message(self) -> dict[str, Any]:
        """The ``dr-restore`` body of this request (fields left at their default are omitted)."""
        body: dict[str, Any] = {"target": TARGET}
        if self.day is not None:
            body["date"] = self.day.isoformat()
        optional = {
            "type": self.tier,
            "hour": self.hour,
            "target_db": self.target_db,
            "confirm": self.confirm,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        flags = {"test_mode": self.test_mode, "drop": self.drop, "dry_run": self.dry_run}
        body.update({k: True for k, v in flags.items() if v})
        body.update({name: list(getattr(self, name)) for name in NS_FIELDS if getattr(self, name)})
        return body


NAMESPACES = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "string", "minLength": 1, "maxLength": 400},
    "description": "a non-empty list of namespace patterns such as shop.* or shop.orders",
}
SHAPE: RequestShape[MongoRestoreRequest] = RequestShape(
    name=TARGET,
    properties={
        "date": schema.DATE,
        "type": schema.TIER,
        "hour": {"type": "integer", "minimum": 0, "maximum": 23},
        "target_db": {
            "type": "string",
            "pattern": r'^[^/\\. "$*<>:|?\x00]{1,63}$',
            "description": 'a MongoDB database name (1-63 characters, none of /\\. "$*<>:|?)',
        },
        "drop": {"type": "boolean"},
        **{name: NAMESPACES for name in NS_FIELDS},
    },
    required=("date",),
    parse=MongoRestoreRequest.from_fields,
    destinations=("target_db",),
    reserved={"target_db": (r"(?i)^(admin|local|config)$", r"_drtest_")},
)
SHAPES = {TARGET: SHAPE}
