"""A Firestore restore request: the guide's flags, one field each.

``date`` (and ``type``) pick the export; ``target_project`` and
``target_database`` say where to import (default: the configured project and
database); ``collection_ids`` imports a subset; ``test_mode`` imports into a
scratch database that is verified and deleted; ``rewrite_references`` points
references into the source database at the destination after the import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.restore.schema import DATE, TIER
from shared.target import RequestShape

TARGET = "firestore"  # the target's name in messages, manifests and the bucket layout


@dataclass(frozen=True)
class FirestoreRestore:
    """A Firestore restore request, typed."""

    day: date | None = None
    tier: str | None = None
    target_project: str | None = None
    target_database: str | None = None
    collection_ids: tuple[str, ...] = ()
    test_mode: bool = False
    dry_run: bool = False
    confirm: str | None = None
    rewrite_references: bool = False

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> FirestoreRestore:
        """From schema-valid fields (:data:`SHAPE`)."""
        return cls(
            date.fromisoformat(fields["date"]) if fields.get("date") else None,
            fields.get("type"),
            fields.get("target_project"),
            fields.get("target_database"),
            tuple(fields.get("collection_ids") or ()),
            bool(fields.get("test_mode")),
            bool(fields.get("dry_run")),
            fields.get("confirm"),
            bool(fields.get("rewrite_references")),
        )


SHAPE: RequestShape[FirestoreRestore] = RequestShape(
    name=TARGET,
    properties={
        "date": DATE,
        "type": TIER,
        "target_project": {
            "type": "string",
            "pattern": r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
            "description": "a Google Cloud project id",
        },
        "target_database": {
            "type": "string",
            "pattern": r"^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$",
            "description": "a Firestore database id or (default)",
        },
        "collection_ids": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": r"^[^/\s]{1,1500}$"},
            "description": "a non-empty list of distinct collection ids",
        },
        "rewrite_references": {"type": "boolean"},
    },
    required=("date",),
    parse=FirestoreRestore.from_fields,
    destinations=("target_project", "target_database"),
    reserved={"target_database": (r"^dr-test-",)},
)
