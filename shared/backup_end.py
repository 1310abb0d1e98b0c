"""How every backup run ends, whichever target and wherever it ran.

A run ends in exactly one place, in this order, each step for a reason:

1. **Commit** the manifest with ``if_generation_match=0``: the manifest is the
   run's commit point, so it exists at most once.
2. **Read it back on conflict.** A create whose first response was lost is
   retried and then meets its own manifest (412): if the stored manifest
   carries this call's committer token (object metadata, random per call),
   this call is still the committer. Otherwise another step committed (two
   completion steps raced, possibly with identical manifests); that one
   prunes and reports, and this one returns the stored manifest.
3. **Retention** over the target's runs, one series per tier, through the
   guard rails of :mod:`shared.prune`, then the target's own clean-up of
   what removed runs leave behind (Cloud Storage's shared copies). Retention
   never fails a backup: its error goes into the report.
4. **One report** (:func:`shared.reporting.backup_report`), logged for the
   alerting metric and delivered to every channel.

Failed runs end here too, as ``failed`` manifests: the catalog then says why,
and the report goes out once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared import prune, reporting, storage
from shared.catalog import Catalog, CatalogEntry
from shared.clock import Clock
from shared.config import TierRetention
from shared.errors import ConflictError, DRError, IntegrityError
from shared.manifest import Manifest

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

log = logging.getLogger(__name__)

COMMITTER = "dr-committer"  # object metadata: the token of the call that created the manifest

# After runs were removed: ``(runs kept, now) -> summary``; deletes what only they used.
AfterPrune = Callable[[Sequence[CatalogEntry], datetime], str]


@dataclass(frozen=True)
class RunEnd:
    """What ending a target's runs needs: where they live, how they are kept, who hears."""

    bucket: Bucket
    target: str
    prefix: str
    retention: TierRetention
    notifier: reporting.ReportSink
    clock: Clock
    after_prune: AfterPrune | None = None

    def catalog(self) -> Catalog:
        return Catalog(self.bucket, self.target, self.prefix)


def end_backup(
    end: RunEnd,
    manifest: Manifest,
    details: Mapping[str, str] | None = None,
    *,
    data_bytes: int | None = None,
) -> Manifest:
    """Commit ``manifest``, apply retention, send the run's one report; the stored manifest.

    ``data_bytes``: the size the report gives, when the artifacts are not the data.
    """
    where = f"gs://{end.bucket.name}/{manifest.location.manifest_path}"
    stored, ours = commit(end.bucket, manifest)
    if not ours:
        log.info("run %s was ended by another step", manifest.location.run_id)
        return stored
    fields = {"fields": {"manifest": where, "counts": dict(manifest.counts)}}
    if manifest.ok:
        log.info("backup %s succeeded", manifest.location.run_id, extra=fields)
    else:
        log.error("backup %s FAILED: %s", manifest.location.run_id, manifest.error, extra=fields)
    retention = apply_retention(end)
    report = reporting.backup_report(
        manifest, {**(details or {}), "Retention": retention}, data_bytes
    )
    reporting.deliver(report, end.notifier)
    return manifest


def commit(bucket: Bucket, manifest: Manifest) -> tuple[Manifest, bool]:
    """Create ``manifest`` once; the stored manifest, and whether this call created it.

    The one manifest commit (:func:`end_backup`'s, and an imported backup's).
    """
    path = manifest.location.manifest_path
    token = secrets.token_hex(8)
    try:
        storage.create_json(bucket, path, manifest.to_json(), metadata={COMMITTER: token})
    except ConflictError:
        stored, committer = _read_back(bucket, path)
        if committer != token:
            return stored, False
        log.info("run %s: the manifest is ours (a retried commit)", manifest.location.run_id)
    return manifest, True


def _read_back(bucket: Bucket, path: str) -> tuple[Manifest, str | None]:
    """The stored manifest and the committer token it was created with."""
    where = f"gs://{bucket.name}/{path}"
    with storage.translate_errors(where):
        blob = bucket.get_blob(path, retry=storage.retry_policy())
    found = storage.read_json(bucket, path)
    if blob is None or found is None:
        raise IntegrityError(f"{where} was reported to exist and then was not there")
    return Manifest.from_json(found[0], where), (blob.metadata or {}).get(COMMITTER)


def apply_retention(end: RunEnd, *, dry_run: bool = False) -> str:
    """Prune every tier of the target, then clean up after; a one-line summary, never raises."""
    now = end.clock()
    try:
        decisions = prune.prune_target(end.catalog(), end.retention.policy, now, dry_run=dry_run)
        removed = [d.entry for d in decisions if d.remove]
        verb = "would remove" if dry_run else "removed"
        summary = f"{verb} {len(removed)} run(s)" if removed else "no run removed"
        if removed and not dry_run and end.after_prune is not None:
            gone = {entry.backup_id for entry in removed}
            kept = [d.entry for d in decisions if d.entry.backup_id not in gone]
            summary += f", {end.after_prune(kept, now)}"
        return summary
    except DRError as exc:  # the backup itself is committed and good
        log.error("retention failed: %s", exc, extra={"fields": {"error_type": type(exc).__name__}})
        return f"failed: {exc}"
