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

A bucket whose previous snapshot is large is listed in name ranges at once
(:mod:`shared.gcs.ranges`), each range through steps of its own.

Delivery is at least once. A step counts its attempts in its record and
records there where the listing goes on once its shards are handed on
(:mod:`shared.gcs.steps`); a repeated step finds that and only hands on
again. A step that died after recording some of its shards' work lists
re-submits those and lists on after their last name, so no object lands in
two shards whatever changed meanwhile. A step that keeps dying fails the run
on its ``GCS_LIST_ATTEMPTS``-th attempt.

When a range's listing ends, ``listed/<bucket>[~<range>].json`` records its
shard count, and whoever records the last one writes the plan from the run's
``start.json``; from there the run completes as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, Protocol

from shared import storage
from shared.errors import ConflictError, IntegrityError
from shared.gcs import critical, ranges, steps
from shared.gcs.context import GcsContext
from shared.gcs.pages import Listing
from shared.gcs.reader import Position, SnapshotReader, SortedLookup
from shared.gcs.run import PLAN_NAME, Plan, ShardRef, TodoItem, series, todo_path
from shared.gcs.steps import ListCursor, ListRef
from shared.manifest import RunLocation

log = logging.getLogger(__name__)

START_NAME = "start.json"


class ShardSink(Protocol):
    """Where listing steps hand shards (``submit``) and the rest of a listing (``resume``).

    A sink records each shard's work list (:func:`shared.gcs.worker.write_todo`)
    before dispatching it, so a worker anywhere, now or on a redelivery, reads
    the same list. ``close`` waits for what was handed on and raises failures.
    """

    def submit(self, shard: ShardRef, items: list[TodoItem]) -> None: ...

    def resume(self, listing: ListRef) -> None: ...

    def close(self) -> None: ...


def begin(ctx: GcsContext, location: RunLocation, header: Plan) -> Plan:
    """Record the run's start (buckets, critical files, base, name ranges); a repeated
    start reads it back."""
    header = replace(header, bounds=ranges.choose_bounds(ctx, header))
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
    header = read_start(ctx, location)
    bounds = header.bounds.get(ref.bucket, ())
    if ref.name_range == 0 and cursor.step == 0:  # start the other ranges (again, if repeated)
        for number, bound in enumerate(bounds, start=1):
            base = Position(bound.offset, 0, bound.offset)
            sink.resume(ListRef(location, ref.bucket, ListCursor(base=base), number))
    attempt = steps.attempt(ctx, ref)
    if attempt.outcome is not None:
        log.info("%s: already done (a repeated delivery); handing on again", ref.describe())
        _hand_on(ctx, ref, attempt.outcome, sink)
        return
    log.info(
        "%s: listing from %s", ref.describe(), repr(cursor.after) if cursor.after else "the start"
    )
    lookup = base_lookup(ctx, header, ref.bucket, cursor.base)
    sources = tuple(header.shards)
    wanted = critical.wanted(critical.parse_all(header.critical, sources), ref.bucket, sources)
    shards, after = cursor.shard, cursor.after
    for index, items in _recorded(ctx, location, ref.key, cursor.shard):
        sink.submit(ShardRef(location, ref.bucket, index, ref.name_range), items)
        shards, after = index + 1, items[-1].entry.name
    first = bounds[ref.name_range - 1].name if ref.name_range else None
    end = bounds[ref.name_range].name if ref.name_range < len(bounds) else None
    listing = Listing(ctx, ref.bucket, cursor.page_token, ctx.settings.list_pages, first, end)
    batch: list[TodoItem] = []
    for item in listing.items(lookup, after, wanted):
        batch.append(item)
        if len(batch) == ctx.settings.shard_size:
            sink.submit(ShardRef(location, ref.bucket, shards, ref.name_range), batch)
            shards, batch = shards + 1, []
    if batch:
        sink.submit(ShardRef(location, ref.bucket, shards, ref.name_range), batch)
        shards += 1
    if listing.next_token is None:
        outcome: dict[str, Any] = {"shards": shards, "step": cursor.step}
        if lookup is not None:
            outcome["base"] = _read_to_end(lookup, end).to_json()
        recorded = steps.record_listed(ctx, ref, outcome)
    else:
        base = lookup.position() if lookup is not None else Position()
        last = listing.last_name or after
        next_cursor = ListCursor(cursor.step + 1, listing.next_token, shards, last, base)
        outcome = {"next": next_cursor.to_json()}
        recorded = steps.record_step(ctx, ref, attempt, outcome)
    if not recorded:
        log.warning("%s: a concurrent delivery finished it first", ref.describe())
        return
    _hand_on(ctx, ref, outcome, sink)


def _read_to_end(lookup: SortedLookup, end: str | None) -> Position:
    """Read the previous snapshot to the end of the range; where that is.

    To the file's end for the last range (its reader then checks the whole
    file, or a segment's size), else to where the next range starts reading.
    """
    if end is None:
        lookup.drain()
    else:
        lookup.find(end)
    return lookup.position()


def _hand_on(ctx: GcsContext, ref: ListRef, outcome: Mapping[str, Any], sink: ShardSink) -> None:
    if "next" in outcome:
        sink.resume(replace(ref, cursor=ListCursor.from_json(outcome["next"])))
    else:
        log.info("%s: the listing ended, %d shard(s)", ref.describe(), int(outcome["shards"]))
        _bucket_listed(ctx, ref.location)


def _bucket_listed(ctx: GcsContext, location: RunLocation) -> None:
    """After a name range's listing ended: whoever ends the last one writes the plan.

    A bucket listed in several ranges read its previous snapshot in segments;
    their sizes and CRC32Cs must add up to the file's (a damaged base fails
    the run here, as the one listing's last step does for a single range).
    """
    backup = ctx.backup_bucket()
    header = read_start(ctx, location)
    counts: dict[str, int] = {}
    segments: dict[str, list[Position]] = {}
    for bucket in header.shards:
        for number in range(header.ranges(bucket)):
            key = series(bucket, number)
            found = storage.read_json(backup, steps.listed_path(location, key))
            if found is None:
                return  # another range is still listing; it writes the plan
            counts[key] = int(found[0]["shards"])
            if "base" in found[0]:
                segments.setdefault(bucket, []).append(Position.from_json(found[0]["base"]))
    for bucket, read in segments.items():
        if header.ranges(bucket) > 1:
            ranges.check_segments(ctx, header, bucket, read)
    totals = {b: sum(counts[series(b, n)] for n in range(header.ranges(b))) for b in header.shards}
    plan = replace(header, shards=totals, series=counts)
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
    found = ranges.base_snapshot(ctx, header, bucket)
    if found is None:
        return None
    reader = SnapshotReader(ctx.backup_bucket(), found[1], start)
    return SortedLookup(iter(reader), reader)
