"""The working state of a run in flight: shard work lists, shard results, the plan.

Everything lives in the run's own directory, so a run is inspectable while it
runs and removable as one unit. Results are created once
(``if_generation_match=0``): a shard delivered twice finds its result and
does nothing, and the completion step reads results that can no longer change, so
every completion attempt writes the same snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.errors import IntegrityError, RequestError
from shared.gcs.snapshot import ObjectEntry
from shared.manifest import RunLocation
from shared.settings_source import BUCKET_NAME

TARGET = "gcs"  # the target's name in messages, manifests and the bucket layout
PLAN_NAME = "plan.json"
PLAN_FORMAT = "eyewearml-dr-gcs-plan/1"
SHARD_FIELDS = frozenset({"tier", "run_id", "bucket", "shard"})


def todo_path(location: RunLocation, bucket: str, index: int) -> str:
    return location.path(f"todo/{bucket}/{index:06d}.json")


def done_prefix(location: RunLocation) -> str:
    return location.path("done/")


def done_path(location: RunLocation, bucket: str, index: int) -> str:
    """The shard's result: its part of the snapshot, its summary attached (:mod:`.parts`)."""
    return f"{done_prefix(location)}{bucket}/{index:06d}.part"


def snapshot_path(location: RunLocation, bucket: str) -> str:
    return location.path(f"snapshot/{bucket}.jsonl")


def check_bucket_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not BUCKET_NAME.match(name):
        raise RequestError(f"{what} {name!r} is not a valid Cloud Storage bucket name")
    return name


def series(bucket: str, name_range: int) -> str:
    """The folder of one name range's shards and listing steps: ``bucket``, ``bucket~0001``, ...

    Range 0 keeps the bucket's own name, so a bucket listed in one range has
    the layout it always had; ``~`` appears in no bucket name.
    """
    return bucket if name_range == 0 else f"{bucket}~{name_range:04d}"


def message_range(body: Mapping[str, Any]) -> int:
    """The optional ``range`` of a shard or listing message (0 when absent)."""
    value = body.get("range", 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RequestError(f"range {value!r} is not a range number (an integer >= 0)")
    return value


def _with_range(body: dict[str, Any], name_range: int) -> dict[str, Any]:
    return body | ({"range": name_range} if name_range else {})


class InRange:
    """What shards and listing steps share: the name range of a bucket they belong to."""

    bucket: str
    name_range: int

    @property
    def key(self) -> str:
        """The folder of the range's shards and steps (:func:`series`)."""
        return series(self.bucket, self.name_range)

    @property
    def where(self) -> str:
        return f"gs://{self.bucket}" + (f" range {self.name_range}" if self.name_range else "")


@dataclass(frozen=True)
class ShardRef(InRange):
    """One shard of one name range of one source bucket in one run; a shard message."""

    location: RunLocation
    bucket: str
    index: int
    name_range: int = 0

    def describe(self) -> str:
        return f"shard {self.index} of {self.where} in run {self.location.run_id}"

    def to_message(self) -> bytes:
        body = {
            "tier": self.location.tier,
            "run_id": self.location.run_id,
            "bucket": self.bucket,
            "shard": self.index,
        }
        return json.dumps(_with_range(body, self.name_range), sort_keys=True).encode("utf-8")

    @classmethod
    def from_message(cls, body: Mapping[str, Any]) -> ShardRef:
        """Validate a shard message; :class:`RequestError` naming what is wrong."""
        unknown = sorted(set(body) - SHARD_FIELDS - {"range"})
        missing = sorted(SHARD_FIELDS - set(body))
        if unknown or missing:
            raise RequestError(
                f"not a shard message: unknown field(s) {unknown or 'none'}, "
                f"missing {missing or 'none'}"
            )
        index = body["shard"]
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise RequestError(f"shard {index!r} is not a shard number (an integer >= 0)")
        bucket = check_bucket_name(body["bucket"], "bucket")
        location = RunLocation("", TARGET, str(body["tier"]), str(body["run_id"]))
        return cls(location, bucket, index, message_range(body))


@dataclass(frozen=True)
class Bound:
    """Where a name range starts: a name in the previous snapshot, and its line's first byte."""

    name: str
    offset: int


@dataclass(frozen=True)
class Plan:
    """Written by the lister when listing ends: the run waits for ``total`` shard results.

    ``bounds`` (in ``start.json``): per bucket, where its name ranges after the
    first start; ``series``: shards per name range (:func:`series`), once listed.
    """

    started: datetime
    shards: Mapping[str, int]
    critical: tuple[str, ...]
    base: str | None = None
    bounds: Mapping[str, tuple[Bound, ...]] = field(default_factory=dict)
    series: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.shards.values())

    def ranges(self, bucket: str) -> int:
        return len(self.bounds.get(bucket, ())) + 1

    def series_of(self, bucket: str) -> list[tuple[str, int]]:
        """``(series, shards)`` of each name range of ``bucket``, in name order."""
        keys = [series(bucket, r) for r in range(self.ranges(bucket))]
        if not self.series:  # a plan written before name ranges
            return [(bucket, self.shards.get(bucket, 0))]
        return [(key, self.series.get(key, 0)) for key in keys]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format": PLAN_FORMAT,
            "started": self.started.isoformat(),
            "shards": dict(self.shards),
            "critical": list(self.critical),
            "base": self.base,
        }
        if self.bounds:
            body["bounds"] = {
                bucket: [{"name": b.name, "offset": b.offset} for b in bounds]
                for bucket, bounds in self.bounds.items()
            }
        if self.series:
            body["series"] = dict(self.series)
        return body

    @classmethod
    def from_json(cls, data: Any, where: str) -> Plan:
        try:
            if data["format"] != PLAN_FORMAT:
                raise ValueError(f"format {data['format']!r}")
            return cls(
                started=datetime.fromisoformat(data["started"]).astimezone(UTC),
                shards={str(k): int(v) for k, v in data["shards"].items()},
                critical=tuple(str(c) for c in data["critical"]),
                base=data.get("base"),
                bounds={
                    str(bucket): tuple(Bound(str(b["name"]), int(b["offset"])) for b in bounds)
                    for bucket, bounds in data.get("bounds", {}).items()
                },
                series={str(k): int(v) for k, v in data.get("series", {}).items()},
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"{where}: malformed plan ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class ShardResult:
    """What one shard produced: its snapshot entries and what happened to the rest.

    ``reused`` entries point at an earlier run's copy, ``copied`` ones were
    copied now, ``existing`` ones found their copy already written (a
    redelivery, or a run killed halfway). ``vanished`` objects were deleted
    from the source after listing and are simply not in this snapshot;
    ``changed`` ones were rewritten after listing and are recorded at the
    generation that was copied. ``failed`` objects could not be copied.
    """

    entries: tuple[ObjectEntry, ...] = ()
    copied: int = 0
    reused: int = 0
    existing: int = 0
    vanished: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TodoItem:
    """One listed object; whether its copy already exists (reused from the base snapshot),
    and whether it is a critical file (the completion step checks those against the source)."""

    entry: ObjectEntry
    reuse: bool
    critical: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**self.entry.to_json(), "reuse": self.reuse} | (
            {"critical": True} if self.critical else {}
        )

    @classmethod
    def from_json(cls, data: Any, where: str) -> TodoItem:
        if not isinstance(data, Mapping) or not isinstance(data.get("reuse"), bool):
            raise IntegrityError(f"{where}: malformed work item")
        return cls(ObjectEntry.from_json(data, where), data["reuse"], data.get("critical") is True)
