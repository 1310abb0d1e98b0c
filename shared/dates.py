"""Dates and times in requests: ``version_date`` and friends, always UTC.

``YYYY-MM-DD`` means the *end* of that UTC day, so "restore as of
2025-03-25" includes every backup taken that day; a timestamp must carry its
time zone, because guessing one would shift the answer by hours.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from shared.errors import RequestError

VERSION_DATE_FORMS = (
    "YYYY-MM-DD (the end of that day, UTC) or an ISO 8601 timestamp with a time zone, "
    "e.g. 2025-03-25T14:00:00Z"
)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_version_date(value: str | date | None) -> datetime | None:
    """The point in time ``version_date`` means; ``None`` for "latest"."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise RequestError(f"version_date {value.isoformat()} has no time zone")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.max, tzinfo=UTC)
    try:
        if _DAY.match(value):
            return datetime.combine(date.fromisoformat(value), time.max, tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RequestError(f"version_date {value!r} is not {VERSION_DATE_FORMS}") from None
    if parsed.tzinfo is None:
        raise RequestError(
            f"version_date {value!r} has no time zone; expected {VERSION_DATE_FORMS}"
        )
    return parsed.astimezone(UTC)
