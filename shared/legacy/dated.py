"""When a legacy backup was taken, and the run it becomes in the catalog.

The old scripts put the date in their paths (``.../2025-03-25/...``,
``eyewear_ml_20250325_010000.archive.gz``); the last date in the path is the
backup's, with its time of day when one follows. ``--date``/``--hour``
override it, and a path without a date needs them. The run id's token comes
from the imported content, so importing the same backup twice names the
same run and the second is refused as a duplicate instead of listed twice.
:func:`commit` writes its manifest, last and with the usual precondition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from shared.backup_end import commit as commit_manifest
from shared.errors import ConflictError, RequestError
from shared.manifest import Manifest, RunLocation, new_run_id

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

_STAMP = re.compile(
    r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?:[T_ -]?(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?(?!\d)"
)


def backup_time(path: str, day: date | None = None, hour: int | None = None) -> datetime:
    """The time of a legacy backup: ``day``/``hour`` if given, else the last date in ``path``."""
    if hour is not None and not 0 <= hour <= 23:
        raise RequestError(f"--hour {hour} is not an hour of the day (0-23)")
    if day is not None:
        return datetime(day.year, day.month, day.day, hour or 0, tzinfo=UTC)
    found = stamp_in(path)
    if found is None:
        raise RequestError(
            f"no date in {path!r}: say when the backup was taken with --date YYYY-MM-DD"
        )
    return found.replace(hour=hour) if hour is not None else found


def stamp_in(path: str) -> datetime | None:
    """The last date (and time, if one follows it) in ``path``, or None."""
    for match in reversed(list(_STAMP.finditer(path))):
        year, month, day, hh, mm, ss = (int(part) if part else 0 for part in match.groups())
        try:
            return datetime(year, month, day, hh, mm, ss, tzinfo=UTC)
        except ValueError:
            continue  # digits that are not a date
    return None


def location(
    prefix: str, target: str, tier: str, when: datetime, content_sha256: str
) -> RunLocation:
    """The run an imported backup becomes: its time, and a token from its content."""
    return RunLocation(prefix, target, tier, new_run_id(when, content_sha256[:8]))


def commit(
    bucket: Bucket,
    location: RunLocation,
    *,
    imported: Mapping[str, Any],
    now: datetime,
    **fields: Any,
) -> Manifest:
    """Commit an imported backup's manifest: dated when it was taken, marked ``imported``."""
    details = {
        **fields.pop("details", {}),
        "imported": {**imported, "imported_at": now.isoformat()},
    }
    manifest = Manifest(
        location=location,
        status="succeeded",
        started=location.started,
        finished=location.started,
        details=details,
        **fields,
    )
    stored, ours = commit_manifest(bucket, manifest)
    if not ours:
        raise ConflictError(f"gs://{bucket.name}/{location.directory} is already imported")
    return stored
