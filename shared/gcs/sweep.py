"""Retention for Cloud Storage snapshots: prune runs, then sweep the copies nobody references.

Runs go through :func:`shared.backup_end.apply_retention`, the guard rails
of :mod:`shared.prune` with each tier's policy (``GCS_RETENTION_DAYS`` as
restic's ``within``), one series per tier (so the
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
from collections.abc import Sequence
from datetime import datetime, timedelta

from shared import storage
from shared.backup_end import RunEnd
from shared.catalog import CatalogEntry
from shared.gcs.context import GcsContext
from shared.gcs.reader import read_snapshot
from shared.gcs.run import TARGET
from shared.gcs.snapshot import COPIES_PREFIX

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(minutes=10)


def run_end(ctx: GcsContext) -> RunEnd:
    """Where Cloud Storage runs end: the backup bucket, ``GCS_RETENTION_DAYS``, then the sweep.

    :func:`shared.backup_end.apply_retention` prunes the runs; when it removed
    any, :func:`sweep_copies` deletes the copies only they referenced.
    """

    def after_prune(kept: Sequence[CatalogEntry], now: datetime) -> str:
        return f"{sweep_copies(ctx, kept, now)} unreferenced copies"

    return RunEnd(
        bucket=ctx.backup_bucket(),
        target=TARGET,
        prefix="",
        retention=ctx.settings.retention,
        notifier=ctx.notifier,
        clock=ctx.clock,
        after_prune=after_prune,
    )


def sweep_copies(ctx: GcsContext, kept: Sequence[CatalogEntry], now: datetime) -> int:
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
