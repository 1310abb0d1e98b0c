"""Start a run: list every source bucket, compare with the last snapshot, hand out shards.

The lister pages through each bucket's listing, decides per object whether the
previous good snapshot already holds its bytes (same generation, or same
size and checksums: its copy is reused) and writes the objects in work lists
of ``GCS_SHARD_SIZE``, each handed to a :class:`ShardSink` (Pub/Sub workers,
or threads in this process). Only then does it write the plan, the number of
shards the run waits for, so a finalizer never mistakes a run still listing
for a complete one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from itertools import chain, islice
from typing import TYPE_CHECKING, Protocol

from shared import logs, storage
from shared.catalog import Catalog
from shared.errors import ConfigError, DRError
from shared.gcs import critical, finalize
from shared.gcs.context import GcsContext
from shared.gcs.run import PLAN_NAME, TARGET, Plan, ShardRef, TodoItem, snapshot_path
from shared.gcs.snapshot import LIST_FIELDS, ObjectEntry, SortedLookup, read_snapshot
from shared.manifest import Manifest, RunLocation, new_run_id

if TYPE_CHECKING:
    from google.cloud.storage import Blob

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 1000


class ShardSink(Protocol):
    """Where the lister hands shards: ``submit`` each, then ``close`` (waits; raises failures).

    A sink records each shard's work list (:func:`shared.gcs.worker.write_todo`)
    before dispatching it, so a worker anywhere, now or on a redelivery, reads
    the same list.
    """

    def submit(self, shard: ShardRef, items: list[TodoItem]) -> None: ...

    def close(self) -> None: ...


def start_backup(
    ctx: GcsContext, *, tier: str, sink: ShardSink, run_id: str | None = None
) -> Manifest | None:
    """List, shard and plan one run; returns its manifest if it completed, ``None`` if in flight.

    ``run_id`` (from the trigger message) names the run: a redelivered trigger
    finds its run already planned or committed and starts nothing.

    A failure before the plan exists (an unknown source bucket, a bad
    ``GCS_CRITICAL_FILES`` entry, Cloud Storage down) commits a FAILED
    manifest naming it and reports it, so a run never fails silently.
    """
    started = ctx.clock()
    location = RunLocation("", TARGET, tier, run_id or new_run_id(started))
    settings = ctx.settings
    if any(
        storage.read_json(ctx.backup_bucket(), name) is not None
        for name in (location.path(PLAN_NAME), location.manifest_path)
    ):
        log.info(
            "run %s was already started (a redelivered trigger): nothing to do", location.run_id
        )
        return None
    with logs.run_context(run_id=location.run_id, target=TARGET):
        log.info(
            "backup %s started: %s into gs://%s",
            location.run_id,
            ", ".join(settings.source_buckets),
            settings.backup_bucket,
        )
        try:
            critical.parse_all(settings.critical_files, settings.source_buckets)
            base = latest_snapshot(ctx)
            shards = {
                bucket: _shard_bucket(ctx, location, bucket, base, sink)
                for bucket in settings.source_buckets
            }
            plan = Plan(
                started,
                shards,
                settings.critical_files,
                base.location.manifest_path if base else None,
            )
            storage.create_json(ctx.backup_bucket(), location.path(PLAN_NAME), plan.to_json())
            sink.close()
        except DRError as exc:
            with contextlib.suppress(DRError):
                sink.close()
            return finalize.record_failure(ctx, location, started, f"backup could not start: {exc}")
        log.info("backup %s listed: %d shards", location.run_id, plan.total)
        return finalize.finalize_if_complete(ctx, location)


def preview(ctx: GcsContext) -> dict[str, dict[str, int]]:
    """What a run would do now, per bucket (a dry run: reads only)."""
    base = latest_snapshot(ctx)
    summary = {}
    for bucket in ctx.settings.source_buckets:
        counts = {"objects": 0, "bytes": 0, "to_copy": 0, "bytes_to_copy": 0}
        for item in scan(ctx, bucket, base):
            counts["objects"] += 1
            counts["bytes"] += item.entry.size
            if not item.reuse:
                counts["to_copy"] += 1
                counts["bytes_to_copy"] += item.entry.size
        summary[bucket] = counts
    log.info("dry run: %s", summary, extra={"fields": {"preview": summary}})
    return summary


def latest_snapshot(ctx: GcsContext) -> Manifest | None:
    """The newest good snapshot of any tier: the base whose copies a new run reuses."""
    backups = Catalog(ctx.backup_bucket(), TARGET).backups()
    return backups[0].manifest if backups else None


def _shard_bucket(
    ctx: GcsContext, location: RunLocation, bucket: str, base: Manifest | None, sink: ShardSink
) -> int:
    shards = 0
    items = scan(ctx, bucket, base)
    while batch := list(islice(items, ctx.settings.shard_size)):
        sink.submit(ShardRef(location, bucket, shards), batch)
        shards += 1
    log.info("gs://%s: %d shard(s)", bucket, shards)
    return shards


def scan(ctx: GcsContext, bucket: str, base: Manifest | None) -> Iterator[TodoItem]:
    """Every object of ``bucket`` in name order, marked ``reuse`` when the base holds its bytes."""
    from google.api_core import exceptions

    where = f"listing gs://{bucket}"
    pages = _pages(ctx, bucket)
    try:
        with storage.translate_errors(where):
            first = next(pages, [])
    except DRError as exc:
        if isinstance(exc.__cause__, exceptions.NotFound):
            raise ConfigError(
                f"source bucket gs://{bucket} does not exist (GCS_SOURCE_BUCKETS)"
            ) from None
        raise
    artifact = None
    if base is not None:
        path = snapshot_path(base.location, bucket)
        artifact = next((a for a in base.artifacts if a.path == path), None)
    previous = SortedLookup(read_snapshot(ctx.backup_bucket(), artifact)) if artifact else None
    with storage.translate_errors(where):
        for page in chain([first], pages):
            for blob in page:
                entry = ObjectEntry.from_blob(bucket, blob)
                earlier = previous.find(entry.name) if previous else None
                if earlier is not None and earlier.same_bytes(entry):
                    yield TodoItem(replace(entry, copy=earlier.copy), reuse=True)
                else:
                    yield TodoItem(entry, reuse=False)
    if previous is not None:
        previous.drain()


def _pages(ctx: GcsContext, bucket: str) -> Iterator[list[Blob]]:
    """The listing page by page, the next page fetched (on its own thread) during this one's use."""

    def fetch() -> Iterator[list[Blob]]:
        client = ctx.client()  # the fetching thread's own
        listing = client.list_blobs(
            client.bucket(bucket), fields=LIST_FIELDS, page_size=LIST_PAGE_SIZE,
            retry=storage.retry_policy(),
        )  # fmt: skip
        for page in listing.pages:
            yield list(page)

    source = fetch()
    with ThreadPoolExecutor(1, thread_name_prefix="gcs-list") as pool:
        pending = pool.submit(next, source, None)
        while (page := pending.result()) is not None:
            pending = pool.submit(next, source, None)
            yield page
