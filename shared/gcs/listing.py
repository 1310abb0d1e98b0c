"""One source bucket's listing, cut into steps that each list a bounded number of pages.

A step lists at most ``GCS_LIST_PAGES`` pages of ``GCS_LIST_PAGE_SIZE``
objects from a page token, compares them with the previous snapshot (read
alongside, from the byte position the last step reached), hands the objects
on in shards, and hands on the rest of the listing as a :class:`ListRef`: the
page token, the next shard number, the last name listed and the position in
the previous snapshot. On the deployed path that reference is a message on
the shard topic, so the next step runs in another invocation: a bucket of
any size finishes, and no invocation lists more than ``GCS_LIST_PAGES`` pages
of a bucket.

Delivery is at least once. A step counts its attempts in its record
(``steps/<bucket>/<step>.json``) and records there where the listing goes on
once its shards are handed on; a repeated step finds that and only hands on
again. A step that died after recording some of its shards' work lists
re-submits those and lists on after their last name, so no object lands in
two shards whatever changed meanwhile. A step that keeps dying fails the run
on its ``GCS_LIST_ATTEMPTS``-th attempt.

When a bucket's listing ends, ``listed/<bucket>.json`` records its shard
count (the last step's outcome), and whoever records the last bucket writes the plan from the run's
``start.json``; from there the run finalizes as before.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from shared import storage
from shared.errors import (
    BackupFailed,
    ConfigError,
    ConflictError,
    IntegrityError,
    RequestError,
)
from shared.gcs import critical
from shared.gcs.context import GcsContext
from shared.gcs.reader import Position, SnapshotReader, SortedLookup
from shared.gcs.run import (
    PLAN_NAME,
    SHARD_FIELDS,
    TARGET,
    Plan,
    ShardRef,
    TodoItem,
    check_bucket_name,
    snapshot_path,
    todo_path,
)  # fmt: skip
from shared.gcs.snapshot import LIST_FIELDS, LIST_PROJECTION, ObjectEntry
from shared.manifest import Manifest, RunLocation

if TYPE_CHECKING:
    from google.cloud.storage import Blob

log = logging.getLogger(__name__)

START_NAME = "start.json"
STEP_RECORD_RETRIES = 10


class ShardSink(Protocol):
    """Where listing steps hand shards (``submit``) and the rest of a listing (``resume``).

    A sink records each shard's work list (:func:`shared.gcs.worker.write_todo`)
    before dispatching it, so a worker anywhere, now or on a redelivery, reads
    the same list. ``close`` waits for what was handed on and raises failures.
    """

    def submit(self, shard: ShardRef, items: list[TodoItem]) -> None: ...

    def resume(self, listing: ListRef) -> None: ...

    def close(self) -> None: ...


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
class ListRef:
    """One listing step of one bucket in one run; what a listing message carries."""

    location: RunLocation
    bucket: str
    cursor: ListCursor = field(default_factory=ListCursor)

    def describe(self) -> str:
        return (
            f"listing step {self.cursor.step} of gs://{self.bucket} in run {self.location.run_id}"
        )

    def to_message(self) -> bytes:
        import json

        body = {
            "tier": self.location.tier,
            "run_id": self.location.run_id,
            "bucket": self.bucket,
            "list": self.cursor.to_json(),
        }
        return json.dumps(body, sort_keys=True).encode("utf-8")

    @classmethod
    def from_message(cls, body: Mapping[str, Any]) -> ListRef:
        """Validate a listing message; :class:`RequestError` naming what is wrong."""
        fields = (SHARD_FIELDS - {"shard"}) | {"list"}
        if set(body) != fields:
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
        return cls(location, bucket, cursor)


def step_path(location: RunLocation, bucket: str, step: int) -> str:
    return location.path(f"steps/{bucket}/{step:06d}.json")


def listed_path(location: RunLocation, bucket: str) -> str:
    return location.path(f"listed/{bucket}.json")


def begin(ctx: GcsContext, location: RunLocation, header: Plan) -> Plan:
    """Record the run's start (buckets, critical files, base); a repeated start reads it back."""
    try:
        storage.create_json(ctx.backup_bucket(), location.path(START_NAME), header.to_json())
    except ConflictError:
        return read_start(ctx, location)
    return header


def read_start(ctx: GcsContext, location: RunLocation) -> Plan:
    path = location.path(START_NAME)
    found = storage.read_json(ctx.backup_bucket(), path)
    if found is None:
        raise IntegrityError(f"gs://{ctx.settings.backup_bucket}/{path} (the run's start) is gone")
    return Plan.from_json(found[0], f"gs://{ctx.settings.backup_bucket}/{path}")


def run_step(ctx: GcsContext, ref: ListRef, sink: ShardSink) -> None:
    """List one step of ``ref``'s bucket and hand everything on; raises :class:`DRError`."""
    location, cursor = ref.location, ref.cursor
    attempt = _attempt(ctx, ref)
    if attempt.outcome is not None:
        log.info("%s: already done (a repeated delivery); handing on again", ref.describe())
        _hand_on(ctx, ref, attempt.outcome, sink)
        return
    log.info(
        "%s: listing from %s", ref.describe(), repr(cursor.after) if cursor.after else "the start"
    )
    header = read_start(ctx, location)
    lookup = base_lookup(ctx, header, ref.bucket, cursor.base)
    sources = tuple(header.shards)
    wanted = critical.wanted(critical.parse_all(header.critical, sources), ref.bucket, sources)
    shards, after = cursor.shard, cursor.after
    for index, items in _recorded(ctx, location, ref.bucket, cursor.shard):
        sink.submit(ShardRef(location, ref.bucket, index), items)
        shards, after = index + 1, items[-1].entry.name
    listing = Listing(ctx, ref.bucket, cursor.page_token, ctx.settings.list_pages)
    batch: list[TodoItem] = []
    for item in listing.items(lookup, after, wanted):
        batch.append(item)
        if len(batch) == ctx.settings.shard_size:
            sink.submit(ShardRef(location, ref.bucket, shards), batch)
            shards, batch = shards + 1, []
    if batch:
        sink.submit(ShardRef(location, ref.bucket, shards), batch)
        shards += 1
    if listing.next_token is None:
        if lookup is not None:
            lookup.drain()  # the previous snapshot's whole-file check
        outcome: dict[str, Any] = {"shards": shards, "step": cursor.step}
        recorded = _record_listed(ctx, ref, outcome)
    else:
        base = lookup.position() if lookup is not None else Position()
        last = listing.last_name or after
        next_cursor = ListCursor(cursor.step + 1, listing.next_token, shards, last, base)
        outcome = {"next": next_cursor.to_json()}
        recorded = _record_step(ctx, ref, attempt, outcome)
    if not recorded:
        log.warning("%s: a concurrent delivery finished it first", ref.describe())
        return
    _hand_on(ctx, ref, outcome, sink)


@dataclass(frozen=True)
class Attempt:
    """This attempt at a listing step: its number, and what an earlier attempt recorded."""

    number: int
    generation: int
    outcome: Mapping[str, Any] | None = None


def _attempt(ctx: GcsContext, ref: ListRef) -> Attempt:
    """Count an attempt in the step's record, or find the outcome an earlier one recorded.

    The step's record holds its attempt count until the step hands on the
    rest of the listing (``next``); the step that ends the listing records
    its outcome in ``listed/<bucket>.json`` instead. The first attempt costs
    one create, as the outcome alone did. Past ``GCS_LIST_ATTEMPTS``
    attempts the step raises :class:`BackupFailed`: the run fails loudly
    rather than staying in flight forever.
    """
    backup, step = ctx.backup_bucket(), ref.cursor.step
    path = step_path(ref.location, ref.bucket, step)
    with contextlib.suppress(ConflictError):
        return Attempt(1, storage.create_json(backup, path, {"attempts": 1}))
    for _ in range(STEP_RECORD_RETRIES):
        found = storage.read_json(backup, path)
        if found is None:
            raise IntegrityError(f"gs://{backup.name}/{path} (a listing step's record) is gone")
        record, generation = found
        if "next" in record:
            return Attempt(int(record.get("attempts", 1)), generation, record)
        listed = storage.read_json(backup, listed_path(ref.location, ref.bucket))
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


def _record_step(
    ctx: GcsContext, ref: ListRef, attempt: Attempt, outcome: Mapping[str, Any]
) -> bool:
    """Record where the listing goes on; ``False`` if a concurrent delivery recorded it first."""
    backup = ctx.backup_bucket()
    path = step_path(ref.location, ref.bucket, ref.cursor.step)
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


def _record_listed(ctx: GcsContext, ref: ListRef, outcome: Mapping[str, Any]) -> bool:
    """Record the bucket's listing as ended; ``False`` if a concurrent delivery did first."""
    try:
        storage.create_json(ctx.backup_bucket(), listed_path(ref.location, ref.bucket), outcome)
    except ConflictError:
        return False
    return True


def _hand_on(ctx: GcsContext, ref: ListRef, outcome: Mapping[str, Any], sink: ShardSink) -> None:
    if "next" in outcome:
        sink.resume(replace(ref, cursor=ListCursor.from_json(outcome["next"])))
    else:
        _bucket_listed(ctx, ref.location, ref.bucket, int(outcome["shards"]))


def _bucket_listed(ctx: GcsContext, location: RunLocation, bucket: str, shards: int) -> None:
    """Record ``bucket`` as listed; the last bucket to finish writes the plan."""
    backup = ctx.backup_bucket()
    log.info("gs://%s: listed, %d shard(s)", bucket, shards)
    header = read_start(ctx, location)
    counts = {}
    for name in header.shards:
        found = storage.read_json(backup, listed_path(location, name))
        if found is None:
            return  # another bucket is still listing; it writes the plan
        counts[name] = int(found[0]["shards"])
    plan = replace(header, shards=counts)
    try:
        storage.create_json(backup, location.path(PLAN_NAME), plan.to_json())
    except ConflictError:
        return
    log.info("backup %s listed: %d shards", location.run_id, plan.total)


def _recorded(
    ctx: GcsContext, location: RunLocation, bucket: str, first: int
) -> Iterator[tuple[int, list[TodoItem]]]:
    """Work lists an earlier attempt of this step recorded, from shard ``first`` on."""
    index = first
    while True:
        path = todo_path(location, bucket, index)
        found = storage.read_json(ctx.backup_bucket(), path)
        if found is None:
            return
        where = f"gs://{ctx.settings.backup_bucket}/{path}"
        if not isinstance(found[0], list) or not found[0]:
            raise IntegrityError(f"{where} is not a work list")
        yield index, [TodoItem.from_json(item, where) for item in found[0]]
        index += 1


def base_lookup(
    ctx: GcsContext, header: Plan, bucket: str, start: Position | None = None
) -> SortedLookup | None:
    """The previous snapshot of ``bucket`` from ``start``, if the run has a base holding it."""
    if header.base is None:
        return None
    backup = ctx.backup_bucket()
    found = storage.read_json(backup, header.base)
    if found is None:
        raise IntegrityError(f"gs://{backup.name}/{header.base} (the base snapshot) is gone")
    base = Manifest.from_json(found[0], f"gs://{backup.name}/{header.base}")
    path = snapshot_path(base.location, bucket)
    artifact = next((a for a in base.artifacts if a.path == path), None)
    if artifact is None:
        return None
    reader = SnapshotReader(backup, artifact, start)
    return SortedLookup(iter(reader), reader)


class Listing:
    """``pages`` pages (all, if ``None``) of a bucket from ``token``, as work items.

    After iterating, ``next_token`` is where the listing goes on (``None``: it
    ended) and ``last_name`` the last name listed.
    """

    def __init__(self, ctx: GcsContext, bucket: str, token: str | None, pages: int | None) -> None:
        self.ctx = ctx
        self.bucket = bucket
        self.token = token
        self.pages = pages
        self.next_token: str | None = None
        self.last_name: str | None = None

    def items(
        self, lookup: SortedLookup | None, after: str | None = None, wanted: Set[str] = frozenset()
    ) -> Iterator[TodoItem]:
        """Objects in name order (those after ``after``), ``reuse`` when the base holds them,
        ``critical`` when named in ``wanted``."""
        where = f"listing gs://{self.bucket}"
        with storage.translate_errors(where):
            for page, token in self._prefetched():
                self.next_token = token
                for blob in page:
                    if after is not None and blob.name <= after:
                        continue
                    entry = ObjectEntry.from_blob(self.bucket, blob)
                    earlier = lookup.find(entry.name) if lookup is not None else None
                    self.last_name = entry.name
                    reuse = earlier is not None and earlier.same_bytes(entry)
                    if earlier is not None and reuse:
                        entry = replace(entry, copy=earlier.copy)
                    yield TodoItem(entry, reuse, entry.name in wanted)

    def _prefetched(self) -> Iterator[tuple[list[Blob], str | None]]:
        """Pages with the token after each; the next fetched on its own thread meanwhile."""
        from google.api_core import exceptions

        source = self._fetch()
        with ThreadPoolExecutor(1, thread_name_prefix="gcs-list") as pool:
            pending = pool.submit(next, source, None)
            while True:
                try:
                    page = pending.result()
                except exceptions.NotFound:
                    raise ConfigError(
                        f"source bucket gs://{self.bucket} does not exist (GCS_SOURCE_BUCKETS)"
                    ) from None
                if page is None:
                    return
                pending = pool.submit(next, source, None)
                yield page

    def _fetch(self) -> Iterator[tuple[list[Blob], str | None]]:
        client = self.ctx.client()  # the fetching thread's own
        listing = client.list_blobs(
            client.bucket(self.bucket),
            fields=LIST_FIELDS,
            projection=LIST_PROJECTION,
            page_size=self.ctx.settings.list_page_size,
            page_token=self.token,
            retry=storage.retry_policy(),
        )
        for count, page in enumerate(listing.pages, start=1):
            blobs = list(page)
            yield blobs, listing.next_page_token
            if self.pages is not None and count >= self.pages:
                return
