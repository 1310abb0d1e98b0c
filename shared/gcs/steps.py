"""A listing step's identity (the listing message) and its record: attempts, then outcome.

A step's record, ``steps/<bucket>[~<range>]/<step>.json``, counts the
step's attempts until the step hands on the rest of its range's listing
(``next``); the step that ends a range records its outcome in
``listed/<bucket>[~<range>].json`` instead. The first attempt costs one
create, as recording the outcome alone did. Past ``GCS_LIST_ATTEMPTS``
attempts a step raises :class:`BackupFailed`: the run fails loudly rather
than staying in flight forever.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared import storage
from shared.errors import BackupFailed, ConflictError, IntegrityError, RequestError
from shared.gcs.context import GcsContext
from shared.gcs.reader import Position
from shared.gcs.run import SHARD_FIELDS, TARGET, InRange, check_bucket_name, message_range
from shared.manifest import RunLocation

log = logging.getLogger(__name__)

STEP_RECORD_RETRIES = 10


@dataclass(frozen=True)
class ListCursor:
    """Where a bucket's listing goes on: page token, next shard, last name, base position."""

    step: int = 0
    page_token: str | None = None
    shard: int = 0
    after: str | None = None
    base: Position = field(default_factory=Position)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "page_token": self.page_token,
            "shard": self.shard,
            "after": self.after,
            "base": self.base.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> ListCursor:
        step, shard = int(data["step"]), int(data["shard"])
        if step < 0 or shard < 0:
            raise ValueError("step and shard must be >= 0")
        token, after = data["page_token"], data["after"]
        return cls(
            step,
            None if token is None else str(token),
            shard,
            None if after is None else str(after),
            Position.from_json(data["base"]),
        )


@dataclass(frozen=True)
class ListRef(InRange):
    """One listing step of one name range of one bucket in one run; a listing message."""

    location: RunLocation
    bucket: str
    cursor: ListCursor = field(default_factory=ListCursor)
    name_range: int = 0

    def describe(self) -> str:
        return f"listing step {self.cursor.step} of {self.where} in run {self.location.run_id}"

    def to_message(self) -> bytes:
        body = {
            "tier": self.location.tier,
            "run_id": self.location.run_id,
            "bucket": self.bucket,
            "list": self.cursor.to_json(),
        } | ({"range": self.name_range} if self.name_range else {})
        return json.dumps(body, sort_keys=True).encode("utf-8")

    @classmethod
    def from_message(cls, body: Mapping[str, Any]) -> ListRef:
        """Validate a listing message; :class:`RequestError` naming what is wrong."""
        fields = (SHARD_FIELDS - {"shard"}) | {"list"}
        if set(body) - {"range"} != fields:
            raise RequestError(
                f"not a listing message: fields {sorted(body)}, expected {sorted(fields)}"
            )
        bucket = check_bucket_name(body["bucket"], "bucket")
        try:
            cursor = ListCursor.from_json(body["list"])
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise RequestError(
                f"malformed listing position ({type(exc).__name__}: {exc})"
            ) from None
        location = RunLocation("", TARGET, str(body["tier"]), str(body["run_id"]))
        return cls(location, bucket, cursor, message_range(body))


def step_path(location: RunLocation, key: str, step: int) -> str:
    return location.path(f"steps/{key}/{step:06d}.json")


def listed_path(location: RunLocation, key: str) -> str:
    return location.path(f"listed/{key}.json")


@dataclass(frozen=True)
class Attempt:
    """This attempt at a listing step: its number, and what an earlier attempt recorded."""

    number: int
    generation: int
    outcome: Mapping[str, Any] | None = None


def attempt(ctx: GcsContext, ref: ListRef) -> Attempt:
    """Count an attempt in the step's record, or find the outcome an earlier one recorded.

    The step's record holds its attempt count until the step hands on the
    rest of the listing (``next``); the step that ends the listing records
    its outcome in ``listed/<bucket>.json`` instead. The first attempt costs
    one create, as the outcome alone did. Past ``GCS_LIST_ATTEMPTS``
    attempts the step raises :class:`BackupFailed`: the run fails loudly
    rather than staying in flight forever.
    """
    backup, step = ctx.backup_bucket(), ref.cursor.step
    path = step_path(ref.location, ref.key, step)
    with contextlib.suppress(ConflictError):
        return Attempt(1, storage.create_json(backup, path, {"attempts": 1}))
    for _ in range(STEP_RECORD_RETRIES):
        found = storage.read_json(backup, path)
        if found is None:
            raise IntegrityError(f"gs://{backup.name}/{path} (a listing step's record) is gone")
        record, generation = found
        if "next" in record:
            return Attempt(int(record.get("attempts", 1)), generation, record)
        listed = storage.read_json(backup, listed_path(ref.location, ref.key))
        if listed is not None and listed[0].get("step", step) == step:
            return Attempt(int(record.get("attempts", 1)), generation, listed[0])
        number = int(record.get("attempts", 0)) + 1
        if number > ctx.settings.list_attempts:
            raise BackupFailed(
                f"{ref.describe()} was attempted {number - 1} times without completing "
                f"(GCS_LIST_ATTEMPTS={ctx.settings.list_attempts})"
            )
        try:
            generation = storage.replace_json(backup, path, {"attempts": number}, generation)
        except ConflictError:
            continue  # a concurrent delivery counted too: count again on top of it
        log.warning("%s: attempt %d", ref.describe(), number)
        return Attempt(number, generation)
    raise ConflictError(f"{ref.describe()}: its record kept changing")


def record_step(
    ctx: GcsContext, ref: ListRef, attempt: Attempt, outcome: Mapping[str, Any]
) -> bool:
    """Record where the listing goes on; ``False`` if a concurrent delivery recorded it first."""
    backup = ctx.backup_bucket()
    path = step_path(ref.location, ref.key, ref.cursor.step)
    generation = attempt.generation
    for _ in range(STEP_RECORD_RETRIES):
        try:
            storage.replace_json(backup, path, {"attempts": attempt.number, **outcome}, generation)
        except ConflictError:
            found = storage.read_json(backup, path)
            if found is None or "next" in found[0]:
                return False
            generation = found[1]  # a concurrent attempt counted itself: record over it
            continue
        return True
    raise ConflictError(f"{ref.describe()}: its record kept changing")


def record_listed(ctx: GcsContext, ref: ListRef, outcome: Mapping[str, Any]) -> bool:
    """Record the bucket's listing as ended; ``False`` if a concurrent delivery did first."""
    try:
        storage.create_json(ctx.backup_bucket(), listed_path(ref.location, ref.key), outcome)
    except ConflictError:
        return False
    return True
