"""Restore status records for people: who asked, what was restored where.

A record's exit code is :func:`shared.restore.ending.exit_code_for`, the
product's one table; ``dr restore`` and ``dr status`` call it directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

_RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
_CONFIRM = re.compile(r'"confirm": "([^"]+)"')
_CONSOLE_ID = re.compile(r"^dr\.(?P<user>[A-Za-z0-9_-]+)\.\d{8}T\d{6}Z\.[0-9a-f]{4}")


def refused(record: Mapping[str, Any]) -> bool:
    result = record.get("result") or {}
    return record.get("phase") == "Refused" or bool((result.get("details") or {}).get("refused"))


def required_confirm(record: Mapping[str, Any]) -> str | None:
    """The ``confirm`` value a refused request must carry to run, if the record says."""
    result = record.get("result") or {}
    named = record.get("confirm") or (result.get("details") or {}).get("confirm")
    if named:
        return str(named)
    for note in result.get("notes") or ():
        found = _CONFIRM.search(str(note))
        if found:
            return found.group(1)
    return None


def backup_of(record: Mapping[str, Any]) -> str | None:
    """The run id of the backup a request restored (or planned), where recorded."""
    path = (record.get("result") or {}).get("backup") or record.get("backup")
    if not path:
        return None
    found = _RUN_ID.search(str(path))
    return found.group(0) if found else str(path)


def requested_by(record: Mapping[str, Any]) -> str:
    request_id = str(record.get("request_id", ""))
    found = _CONSOLE_ID.match(request_id)
    if found:
        return f"dr {found['user']}"
    if request_id.startswith("msg-"):
        return "pubsub"
    return "-"


def took(record: Mapping[str, Any], now: datetime) -> float:
    end = record.get("finished")
    ended = datetime.fromisoformat(str(end)) if end else now
    return (ended - datetime.fromisoformat(str(record["created"]))).total_seconds()


def summary(record: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """One row of ``dr restores`` (and the head of ``dr status``)."""
    request = record.get("request") or {}
    result = record.get("result") or {}
    return {
        "request_id": record.get("request_id"),
        "target": request.get("target", "?"),
        "phase": record.get("phase"),
        "mode": result.get("mode") or record.get("mode") or "",
        "backup": backup_of(record),
        "destination": result.get("destination"),
        "created": record.get("created"),
        "seconds": round(took(record, now), 1),
        "requested_by": requested_by(record),
    }
