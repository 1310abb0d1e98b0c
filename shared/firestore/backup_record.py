"""The pending export record: what a started backup is, until its completion step ends it.

``pending.json`` lives in the run directory next to the export. It is created
*before* the export is started (``if_generation_match=0``), and the operation
name is added once the Admin API has answered; a function killed in between
leaves a record without an operation, which the completion step resolves by
listing the database's operations for this run's output prefix. A run
directory holding only ``pending.json`` has no manifest, so the catalog sees
an incomplete run, never a backup. Every later change is guarded by the
generation that was read, so two completion steps cannot both act on it:
the step that ends a run first claims the record (``ending``), and a step
that finds a fresh claim leaves the run to its claimant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared import storage
from shared.errors import IntegrityError
from shared.manifest import RunLocation

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

FORMAT = "eyewearml-dr-firestore-pending/1"
PENDING_NAME = "pending.json"
EXPORT_FOLDER = "export"


@dataclass(frozen=True)
class PendingExport:
    database: str
    output_uri_prefix: str
    collection_ids: tuple[str, ...]
    snapshot_time: datetime | None
    point_in_time_recovery: bool
    started: datetime
    operation: str | None = None
    timeout_reported: datetime | None = None
    ending: datetime | None = None  # when a completion step claimed the run to end it

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["collection_ids"] = list(self.collection_ids)
        for key in ("snapshot_time", "started", "timeout_reported", "ending"):
            data[key] = data[key].isoformat() if data[key] else None
        return {"format": FORMAT, **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> PendingExport:
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            return cls(
                database=str(data["database"]),
                output_uri_prefix=str(data["output_uri_prefix"]),
                collection_ids=tuple(str(c) for c in data["collection_ids"]),
                snapshot_time=_time(data.get("snapshot_time")),
                point_in_time_recovery=bool(data["point_in_time_recovery"]),
                started=datetime.fromisoformat(str(data["started"])),
                operation=data.get("operation") or None,
                timeout_reported=_time(data.get("timeout_reported")),
                ending=_time(data.get("ending")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"{where}: malformed pending export record ({exc})") from None


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def path(location: RunLocation) -> str:
    return location.path(PENDING_NAME)


def create(bucket: Bucket, location: RunLocation, record: PendingExport) -> int:
    return storage.create_json(bucket, path(location), record.to_json())


def read(bucket: Bucket, location: RunLocation) -> tuple[PendingExport, int] | None:
    found = storage.read_json(bucket, path(location))
    if found is None:
        return None
    return PendingExport.from_json(found[0], f"gs://{bucket.name}/{path(location)}"), found[1]


def update(
    bucket: Bucket, location: RunLocation, record: PendingExport, generation: int, **changes: Any
) -> tuple[PendingExport, int]:
    """Replace the record if it is still at ``generation`` (else :class:`ConflictError`)."""
    changed = replace(record, **changes)
    return changed, storage.replace_json(bucket, path(location), changed.to_json(), generation)


def remove(bucket: Bucket, location: RunLocation) -> None:
    storage.delete(bucket, path(location))
