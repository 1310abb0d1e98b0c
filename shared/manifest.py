"""Backup manifests and where runs live in the backup bucket.

A run writes its artifacts first and its manifest last. The manifest is the
commit point: it is created with ``if_generation_match=0``, so it exists at
most once, and a run directory without one is an incomplete run, never a
backup. Layout (all times UTC)::

    <prefix><target>/<tier>/<YYYY-MM-DD>[T<HH>]/<run-id>/manifest.json

``T<HH>`` appears for hourly runs only, so the guide's restore flags map
straight onto a path: ``--date 2025-03-25 --type daily`` is
``mongodb/daily/2025-03-25/``, adding ``--hour 14 --type hourly`` is
``mongodb/hourly/2025-03-25T14/``. Run ids start with their UTC start time, so
they sort by time and say when they ran. ``<tier>`` is a scheduled tier
(``hourly``, ``daily``, ``weekly``, ``monthly``) or ``manual``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import __version__
from shared.errors import IntegrityError, RequestError

FORMAT = "eyewearml-dr-manifest/1"
MANIFEST_NAME = "manifest.json"
SCHEDULED_TIERS = ("hourly", "daily", "weekly", "monthly")
# Manual backups (``python -m shared.cli backup``) are a tier of their own, so
# taking one never changes which scheduled backups retention keeps.
MANUAL_TIER = "manual"
TIERS = (*SCHEDULED_TIERS, MANUAL_TIER)

# Each tier's schedule period and its name in reasons (monthly: the longest
# month): what pruning keeps one backup older than, and what freshness allows
# past its grace. Manual backups have no schedule; a day keeps the one taken
# before an incident's.
PERIODS: dict[str, tuple[timedelta, str]] = {
    "hourly": (timedelta(hours=1), "an hour"),
    "daily": (timedelta(days=1), "a day"),
    "weekly": (timedelta(days=7), "a week"),
    "monthly": (timedelta(days=31), "31 days"),
    MANUAL_TIER: (timedelta(days=1), "a day"),
}
# The product's targets, in the order they are shown: the one list. A run's
# directory takes any target name of this form, so a new target (or a test's)
# needs no change here.
TARGETS = ("mongodb", "firestore", "gcs")
TARGET_NAME = re.compile(r"^[a-z][a-z0-9]{1,31}$")
STATUSES = ("succeeded", "failed")
TOOL_VERSION = f"eyewearml-dr {__version__}"

_RUN_ID = re.compile(r"^(?P<time>\d{8}T\d{6}Z)-(?P<token>[0-9a-f]{8})$")
_RUN_PATH = re.compile(
    r"^(?P<prefix>.*?)(?P<target>[a-z][a-z0-9]{1,31})/(?P<tier>hourly|daily|weekly|monthly|manual)/"
    r"(?P<slot>\d{4}-\d{2}-\d{2}(?:T\d{2})?)/(?P<run_id>\d{8}T\d{6}Z-[0-9a-f]{8})/"
)


def new_run_id(now: datetime, token: str | None = None) -> str:
    """``20250325T010203Z-1a2b3c4d``: the start time plus 32 bits, random unless given.

    A caller that must name the same run on a retry (a redelivered trigger)
    derives ``token`` (8 hex digits) from what identifies the attempt.
    """
    token = secrets.token_hex(4) if token is None else token
    run_id = f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{token}"
    run_started(run_id)  # validates the token's form
    return run_id


def run_started(run_id: str) -> datetime:
    match = _RUN_ID.match(run_id)
    if match is None:
        raise RequestError(f"{run_id!r} is not a run id (expected e.g. 20250325T010203Z-1a2b3c4d)")
    return datetime.strptime(match.group("time"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def slot_for(tier: str, when: datetime) -> str:
    """The date folder of a run: ``YYYY-MM-DD``, or ``YYYY-MM-DDTHH`` for hourly runs."""
    when = when.astimezone(UTC)
    return f"{when:%Y-%m-%dT%H}" if tier == "hourly" else f"{when:%Y-%m-%d}"


@dataclass(frozen=True)
class RunLocation:
    """Where one run's objects live in the backup bucket."""

    prefix: str
    target: str
    tier: str
    run_id: str

    def __post_init__(self) -> None:
        if not TARGET_NAME.match(self.target):
            raise RequestError(
                f"{self.target!r} is not a target name (2-32 lowercase letters and digits; "
                f"the product's are {', '.join(TARGETS)})"
            )
        if self.tier not in TIERS:
            raise RequestError(
                f"unknown backup type {self.tier!r}; expected one of {', '.join(TIERS)}"
            )
        run_started(self.run_id)

    @property
    def started(self) -> datetime:
        return run_started(self.run_id)

    @property
    def slot(self) -> str:
        return slot_for(self.tier, self.started)

    @property
    def directory(self) -> str:
        return f"{self.prefix}{self.target}/{self.tier}/{self.slot}/{self.run_id}/"

    @property
    def manifest_path(self) -> str:
        return self.directory + MANIFEST_NAME

    def path(self, relative: str) -> str:
        return self.directory + relative

    @classmethod
    def parse(cls, object_name: str) -> RunLocation | None:
        """The run an object belongs to, or ``None`` for objects outside the layout."""
        match = _RUN_PATH.match(object_name)
        if match is None:
            return None
        location = cls(match["prefix"], match["target"], match["tier"], match["run_id"])
        return location if location.slot == match["slot"] else None


@dataclass(frozen=True)
class Artifact:
    """One object a backup consists of, with the checksums to verify it by."""

    path: str
    size: int
    sha256: str
    crc32c: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "crc32c": self.crc32c}


@dataclass(frozen=True)
class Manifest:
    """The record that makes a run a backup. ``details`` holds target-specific facts."""

    location: RunLocation
    status: str
    started: datetime
    finished: datetime
    source: Mapping[str, Any]
    artifacts: tuple[Artifact, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    key_id: str | None = None
    compression: str | None = None
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    tool_version: str = TOOL_VERSION

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def size(self) -> int:
        return sum(artifact.size for artifact in self.artifacts)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "target": self.location.target,
            "tier": self.location.tier,
            "run_id": self.location.run_id,
            "prefix": self.location.prefix,
            "status": self.status,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "source": dict(self.source),
            "artifacts": [artifact.to_json() for artifact in self.artifacts],
            "counts": dict(self.counts),
            "size": self.size,
            "key_id": self.key_id,
            "compression": self.compression,
            "error": self.error,
            "details": dict(self.details),
            "tool_version": self.tool_version,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Manifest:
        """Parse a manifest; anything malformed is an :class:`IntegrityError` naming ``where``."""
        try:
            if data.get("format") != FORMAT:
                raise IntegrityError(f"{where}: unknown manifest format {data.get('format')!r}")
            if data["status"] not in STATUSES:
                raise ValueError(f"status {data['status']!r}")
            return cls(
                location=RunLocation(data["prefix"], data["target"], data["tier"], data["run_id"]),
                status=data["status"],
                started=_utc(data["started"]),
                finished=_utc(data["finished"]),
                source=dict(data["source"]),
                artifacts=tuple(
                    Artifact(str(a["path"]), int(a["size"]), str(a["sha256"]), str(a["crc32c"]))
                    for a in data["artifacts"]
                ),
                counts={str(k): int(v) for k, v in data["counts"].items()},
                key_id=data.get("key_id"),
                compression=data.get("compression"),
                error=data.get("error"),
                details=dict(data.get("details") or {}),
                tool_version=str(data.get("tool_version", "")),
            )
        except IntegrityError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError, RequestError) as exc:
            raise IntegrityError(
                f"{where}: malformed manifest ({type(exc).__name__}: {exc})"
            ) from None


def _utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return parsed.astimezone(UTC)


def data_size(manifest: Manifest) -> int:
    """The size of what was backed up: a Cloud Storage run's objects, else its artifacts.

    A Cloud Storage snapshot's artifacts are only its object lists; the bytes
    it protects are the copies it references (``counts["bytes"]``).
    """
    if manifest.location.target == "gcs" and "bytes" in manifest.counts:
        return int(manifest.counts["bytes"])
    return manifest.size
