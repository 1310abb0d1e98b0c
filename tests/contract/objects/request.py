"""An ``objects`` restore request: which backup (``date``, ``type``) and where (``target_prefix``).

Without ``target_prefix`` the restore writes back to the source prefix, which
holds data and so needs ``confirm``; test mode writes to a scratch prefix it
deletes afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.restore.schema import DATE, TIER
from shared.target import RequestShape
from tests.contract.objects import TARGET

SCRATCH = "_drtest-"
PREFIX = {
    "type": "string",
    "pattern": r"^[a-z0-9_][a-z0-9/_.-]{0,200}/$",
    "description": "an object prefix ending in '/'",
}


@dataclass(frozen=True)
class ObjectsRestoreRequest:
    day: date | None = None
    tier: str | None = None
    target_prefix: str | None = None
    test_mode: bool = False
    confirm: str | None = None

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> ObjectsRestoreRequest:
        day = fields.get("date")
        return cls(
            day=date.fromisoformat(day) if day else None,
            tier=fields.get("type"),
            target_prefix=fields.get("target_prefix"),
            test_mode=bool(fields.get("test_mode", False)),
            confirm=fields.get("confirm"),
        )


SHAPE: RequestShape[ObjectsRestoreRequest] = RequestShape(
    name=TARGET,
    properties={"date": DATE, "type": TIER, "target_prefix": PREFIX},
    required=(),
    parse=ObjectsRestoreRequest.from_fields,
    destinations=("target_prefix",),
    reserved={"target_prefix": (f"^{SCRATCH}",)},
)
