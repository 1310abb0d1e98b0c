"""Retention for Cloud Storage snapshots: prune runs, then sweep the copies nobody references.

Runs go through :mod:`shared.prune` with each tier's policy
(``GCS_RETENTION_DAYS`` as restic's ``within``), one series per tier (so the
newest good snapshot of each tier is never deleted, and failed or incomplete
runs go only after the grace period). Copies are shared between snapshots,
so deleting a run frees nothing by itself; afterwards a mark-and-sweep
deletes every copy that no remaining complete run's snapshot references. An
object deleted from the source thus stays restorable exactly as long as some
kept snapshot lists it.

A run in flight references copies before its snapshot exists. Its *new*
copies are younger than the run, so copies created after the start of the
oldest incomplete run (or after now) are never swept. The copies it *reuses*
are referenced by its base, the newest good snapshot, which prune never
removes. Sweeping runs only when prune removed a run, so its cost (reading
every kept snapshot) is paid when there is something to free.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from shared import prune, storage
from shared.catalog import Catalog, CatalogEntry
from shared.errors import DRError
from shared.gcs.context import GcsContext
from shared.gcs.reader import read_snapshot
from shared.gcs.run import TARGET
from shared.gcs.snapshot import COPIES_PREFIX

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(minutes=10)


def apply_retention(ctx: GcsContext, dry_run: bool = False) -> str:
    """Prune and sweep; returns a one-line summary. Never raises: a backup stays a backup.

    A dry run logs every prune decision and deletes nothing (so sweeps nothing).
    """
    now = ctx.clock()
    try:
        entries = Catalog(ctx.backup_bucket(), TARGET).entries()
        series: dict[str, list[CatalogEntry]] = defaultdict(list)
        for entry in entries:
            series[entry.location.tier].append(entry)
        retention = ctx.settings.retention
        removed = [
            run
            for tier, tier_entries in series.items()
            for run in prune.execute(
                ctx.backup_bucket(),
                prune.plan(tier_entries, retention.policy(tier), now),
                dry_run,
            )
        ]
        rule = "; ".join(f"{tier}: {retention.policy(tier).describe()}" for tier in sorted(series))
        if not removed:
            return f"{rule}: no run removed"
        gone = {run.backup_id for run in removed}
        swept = sweep_copies(ctx, [entry for entry in entries if entry.backup_id not in gone], now)
        return f"{rule}: removed {len(removed)} run(s), {swept} unreferenced copies"
    except DRError as exc:
        log.error("retention failed: %s", exc, extra={"fields": {"error_type": type(exc).__name__}})
        return f"failed: {exc}"


def sweep_copies(ctx: GcsContext, kept: list[CatalogEntry], now: datetime) -> int:
    """Delete copies no complete run in ``kept`` references; returns how many."""
    backup = ctx.backup_bucket()
    referenced: set[str] = set()
    for entry in kept:
        if entry.manifest is None:
            continue
        for artifact in entry.manifest.artifacts:
            referenced.update(item.copy for item in read_snapshot(backup, artifact))
    in_flight = [entry.time for entry in kept if entry.manifest is None]
    protect_from = min([now, *in_flight]) - CLOCK_SKEW
    with storage.translate_errors(f"listing gs://{backup.name}/{COPIES_PREFIX}"):
        garbage = [
            blob.name
            for blob in ctx.client().list_blobs(
                backup,
                prefix=COPIES_PREFIX,
                fields="items(name,timeCreated),nextPageToken",
                retry=storage.retry_policy(),
            )
            if blob.name not in referenced
            and blob.time_created is not None
            and blob.time_created < protect_from
        ]
    log.info("sweep: deleting %d copies no kept snapshot references", len(garbage))
    for _ in ctx.parallel(lambda name: storage.delete(ctx.backup_bucket(), name), garbage):
        pass
    return len(garbage)
