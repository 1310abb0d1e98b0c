"""Start a run: record it, list every source bucket in steps, hand out shards.

The lister records the run's start (``start.json``: buckets, critical files,
the base snapshot), then runs the first listing step of each source bucket
(:mod:`shared.gcs.listing`): objects whose bytes the previous good snapshot
already holds (same generation, or same size and checksums) reuse its copy,
the others are copied by shard workers. The rest of a large bucket's listing
goes on in further steps, each in its own invocation on the deployed path
(:func:`continue_listing`). The plan, the number of shards the run waits for,
is written when the last bucket's listing ends, so a completion step never
mistakes a run still listing for a complete one.
"""

from __future__ import annotations

import contextlib
import logging

from shared import logs, storage
from shared.catalog import Catalog
from shared.errors import DRError
from shared.gcs import critical, listing, pages, run_completion
from shared.gcs.context import GcsContext
from shared.gcs.listing import ShardSink
from shared.gcs.run import TARGET, Plan
from shared.gcs.steps import ListRef
from shared.manifest import Manifest, RunLocation, new_run_id

log = logging.getLogger(__name__)

__all__ = ["ShardSink", "continue_listing", "latest_snapshot", "plan", "start_backup"]


def start_backup(
    ctx: GcsContext, *, tier: str, sink: ShardSink, run_id: str | None = None
) -> Manifest | None:
    """Start one run; returns its manifest if it completed here, ``None`` if in flight.

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
        for name in (location.path(listing.START_NAME), location.manifest_path)
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
            header = Plan(
                started,
                dict.fromkeys(settings.source_buckets, 0),
                settings.critical_files,
                base.location.manifest_path if base else None,
            )
            listing.begin(ctx, location, header)
            for bucket in settings.source_buckets:
                listing.run_step(ctx, ListRef(location, bucket), sink)
            sink.close()
        except DRError as exc:
            with contextlib.suppress(DRError):
                sink.close()
            return run_completion.record_failure(
                ctx, location, started, f"backup could not start: {exc}"
            )
        return run_completion.complete_run(ctx, location)


def continue_listing(ctx: GcsContext, ref: ListRef, sink: ShardSink) -> Manifest | None:
    """Run one further listing step (a listing message); the run's manifest once complete."""
    location = ref.location
    with logs.run_context(run_id=location.run_id, target=TARGET):
        if run_completion.read_manifest(ctx, location) is not None:
            log.info("%s: the run has already ended; nothing to do", ref.describe())
            return None
        try:
            listing.run_step(ctx, ref, sink)
            sink.close()
        except DRError as exc:
            with contextlib.suppress(DRError):
                sink.close()
            started = location.started
            with contextlib.suppress(DRError):
                started = listing.read_start(ctx, location).started
            return run_completion.record_failure(
                ctx, location, started, f"{ref.describe()} failed: {exc}"
            )
        return run_completion.complete_run(ctx, location)


def plan(ctx: GcsContext) -> dict[str, dict[str, int]]:
    """What a run would do now, per bucket (a dry run: reads only, writes nothing)."""
    base = latest_snapshot(ctx)
    header = Plan(ctx.clock(), {}, (), base.location.manifest_path if base else None)
    summary = {}
    for bucket in ctx.settings.source_buckets:
        counts = {"objects": 0, "bytes": 0, "to_copy": 0, "bytes_to_copy": 0}
        lookup = listing.base_lookup(ctx, header, bucket)
        for item in pages.Listing(ctx, bucket, None, None).items(lookup):
            counts["objects"] += 1
            counts["bytes"] += item.entry.size
            if not item.reuse:
                counts["to_copy"] += 1
                counts["bytes_to_copy"] += item.entry.size
        summary[bucket] = counts
    log.info("dry run: %s", summary, extra={"fields": {"plan": summary}})
    return summary


def latest_snapshot(ctx: GcsContext) -> Manifest | None:
    """The newest good snapshot of any tier: the base whose copies a new run reuses.

    Snapshots imported from the old scripts are never a base: their copies
    live outside ``gcs-objects/``, where the old scripts' retention deletes.
    """
    for entry in Catalog(ctx.backup_bucket(), TARGET).backups():
        if entry.manifest is not None and not entry.manifest.details.get("imported"):
            return entry.manifest
    return None
