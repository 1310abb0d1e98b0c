"""Complete a run whose shards have all reported: snapshot, critical checks, then its end.

Whoever completes the last piece (the last shard's worker, or the lister when
shards finished before it wrote the plan) builds the manifest, succeeded or
failed, and hands it to :func:`shared.backup_end.end_backup` with the
bucket-by-bucket report lines. Two completions may race; both write the same
snapshot files (their content follows from immutable shard results), and the
manifest is created once, so exactly one commits, and only that one applies
retention (pruning, then :mod:`~shared.gcs.sweep`'s sweep) and sends the run's
one report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from shared import storage
from shared.backup_end import end_backup
from shared.errors import ConflictError, DRError, IntegrityError
from shared.gcs import compose, critical, parts, shard_groups, sweep
from shared.gcs.context import GcsContext
from shared.gcs.run import (
    PLAN_NAME,
    Plan,
    ShardRef,
    done_path,
    snapshot_path,
)  # fmt: skip
from shared.gcs.snapshot import JSONL, ObjectEntry
from shared.manifest import Artifact, Manifest, RunLocation
from shared.notify.message import human_size

if TYPE_CHECKING:
    from google.cloud.storage import Blob

log = logging.getLogger(__name__)

LISTED_NAMES = 20  # objects named per category in a manifest or report; counts cover the rest


@dataclass
class BucketSummary:
    """One source bucket's share of the run, gathered while its snapshot is written."""

    objects: int = 0
    bytes: int = 0
    copied: int = 0
    reused: int = 0
    existing: int = 0
    vanished: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    wanted: dict[str, ObjectEntry] = field(default_factory=dict)

    def add(self, bucket: str, part: parts.PartSummary, wanted: set[str]) -> None:
        self.objects += part.objects
        self.bytes += part.bytes
        self.copied += part.copied
        self.reused += part.reused
        self.existing += part.existing
        self.vanished += [f"gs://{bucket}/{name}" for name in part.vanished]
        self.changed += [f"gs://{bucket}/{name}" for name in part.changed]
        self.failed += [f"gs://{bucket}/{name}: {error}" for name, error in part.failed]
        self.wanted.update({e.name: e for e in part.critical if e.name in wanted})


def read_manifest(ctx: GcsContext, location: RunLocation) -> Manifest | None:
    found = storage.read_json(ctx.backup_bucket(), location.manifest_path)
    if found is None:
        return None
    return Manifest.from_json(
        found[0], f"gs://{ctx.settings.backup_bucket}/{location.manifest_path}"
    )


def complete_run(
    ctx: GcsContext, location: RunLocation, shard: ShardRef | None = None
) -> Manifest | None:
    """The run's manifest, writing it if every shard has reported; ``None`` while in flight.

    ``shard`` is the one whose result was just recorded: only its group is
    counted then (:mod:`shared.gcs.shard_groups`); without it, every result is.
    """
    existing = read_manifest(ctx, location)
    if existing is not None:
        return existing
    backup = ctx.backup_bucket()
    found = storage.read_json(backup, location.path(PLAN_NAME))
    if found is None:
        return None  # still listing: the end of the listing checks again
    plan = Plan.from_json(found[0], f"gs://{backup.name}/{location.path(PLAN_NAME)}")
    if not shard_groups.complete(ctx, location, plan, shard):
        log.info("run %s: not all of its %d shards have reported", location.run_id, plan.total)
        return None
    return _end_run(ctx, location, plan)


def _end_run(ctx: GcsContext, location: RunLocation, plan: Plan) -> Manifest:
    buckets = tuple(plan.shards)
    artifacts, summaries = [], {}
    try:
        files = critical.parse_all(plan.critical, buckets)
        for bucket in plan.shards:
            wanted = critical.wanted(files, bucket, buckets)
            artifact, summaries[bucket] = _write_snapshot(
                ctx, location, bucket, plan.series_of(bucket), wanted
            )
            artifacts.append(artifact)
        verified, problems = critical.check(
            ctx.client(),
            ctx.backup_bucket(),
            files,
            buckets,
            {bucket: summary.wanted for bucket, summary in summaries.items()},
        )
    except DRError as exc:
        return record_failure(ctx, location, plan.started, f"completing the run failed: {exc}")
    failed = [line for summary in summaries.values() for line in summary.failed]
    errors = []
    if failed:
        errors.append(
            f"{len(failed)} object(s) could not be copied: {'; '.join(failed[:LISTED_NAMES])}"
        )
    if problems:
        errors.append(f"critical files missing or different: {'; '.join(problems)}")
    details = {
        "base_run": plan.base,
        "buckets": {
            bucket: {
                "objects": s.objects,
                "bytes": s.bytes,
                "copied": s.copied + s.existing,
                "reused": s.reused,
                "shards": plan.shards[bucket],
                "snapshot": snapshot_path(location, bucket),
            }
            for bucket, s in summaries.items()
        },
        "critical": {"verified": verified, "problems": problems},
        "failed": failed[:LISTED_NAMES],
        "vanished": [n for s in summaries.values() for n in s.vanished][:LISTED_NAMES],
        "changed": [n for s in summaries.values() for n in s.changed][:LISTED_NAMES],
    }
    manifest = Manifest(
        location=location,
        status="failed" if errors else "succeeded",
        started=plan.started,
        finished=ctx.clock(),
        source={"project": ctx.settings.project_id, "buckets": list(buckets)},
        artifacts=tuple(artifacts),
        counts=_counts(plan, summaries),
        error=" | ".join(errors) or None,
        details=details,
    )
    return _end(ctx, manifest)


def _counts(plan: Plan, summaries: dict[str, BucketSummary]) -> dict[str, int]:
    parts = summaries.values()
    return {
        "objects": sum(s.objects for s in parts),
        "bytes": sum(s.bytes for s in parts),
        "copied": sum(s.copied + s.existing for s in parts),
        "reused": sum(s.reused for s in parts),
        "vanished": sum(len(s.vanished) for s in parts),
        "changed": sum(len(s.changed) for s in parts),
        "failed": sum(len(s.failed) for s in parts),
        "shards": plan.total,
        "buckets": len(plan.shards),
    }


def _write_snapshot(
    ctx: GcsContext,
    location: RunLocation,
    bucket: str,
    ranges: list[tuple[str, int]],
    wanted: set[str],
) -> tuple[Artifact, BucketSummary]:
    """Compose ``snapshot/<bucket>.jsonl`` from the shards' parts, in name order.

    ``ranges`` are the bucket's name ranges in order, each ``(series, shards)``.

    Only the parts' summaries are read (:mod:`shared.gcs.parts`); the bytes
    are concatenated server side (:mod:`shared.gcs.compose`) and checked by
    size and CRC32C against what the parts say. If another completion step
    composed it first (the create fails), the same check covers its object.
    The SHA-256 is not recorded: it would take reading every byte.
    """
    backup = ctx.backup_bucket()
    path = snapshot_path(location, bucket)
    shards = [(key, index) for key, count in ranges for index in range(count)]
    summary, found = _read_summaries(ctx, location, bucket, shards, wanted)
    size, crc32c = compose.combined((part.size, part.crc32c) for part in found)
    sources = [done_path(location, key, index) for key, index in shards]
    try:
        blob: Blob | None = compose.compose(
            ctx, sources, path, JSONL, location.path(f"compose/{bucket}/")
        )
    except ConflictError:
        log.info("gs://%s/%s exists (another completion step); checking it", backup.name, path)
        with storage.translate_errors(f"gs://{backup.name}/{path}"):
            blob = backup.get_blob(path, retry=storage.retry_policy())
    if blob is None or (blob.size, blob.crc32c) != (size, crc32c):
        raise IntegrityError(f"gs://{backup.name}/{path} differs from the shard results it lists")
    return Artifact(path, size, "", crc32c), summary


def _read_summaries(
    ctx: GcsContext,
    location: RunLocation,
    bucket: str,
    shards: list[tuple[str, int]],
    wanted: set[str],
) -> tuple[BucketSummary, list[parts.PartSummary]]:
    """Every shard's summary, read on the copy threads; never the shards' entries."""
    found = list(
        ctx.parallel(
            lambda shard: parts.read_summary(ctx.backup_bucket(), location, *shard), shards
        )
    )
    summary = BucketSummary()
    for part in found:
        summary.add(bucket, part, wanted)
    return summary, found


def record_failure(
    ctx: GcsContext, location: RunLocation, started: datetime, error: str
) -> Manifest:
    """End a run that could not go on as FAILED: committed, retained and reported once."""
    manifest = Manifest(
        location=location,
        status="failed",
        started=started,
        finished=ctx.clock(),
        source={"project": ctx.settings.project_id, "buckets": list(ctx.settings.source_buckets)},
        error=error,
    )
    return _end(ctx, manifest)


def _end(ctx: GcsContext, manifest: Manifest) -> Manifest:
    data = manifest.counts.get("bytes")
    return end_backup(sweep.run_end(ctx), manifest, report_details(manifest), data_bytes=data)


def report_details(manifest: Manifest) -> dict[str, str]:
    """The report's bucket-by-bucket lines: what each bucket held and copied, what was verified."""
    buckets = manifest.details.get("buckets", {})
    details = {
        "Buckets": ", ".join(
            f"{name} ({info['objects']:,} objects, {human_size(info['bytes'])}, "
            f"{info['copied']:,} copied)"
            for name, info in buckets.items()
        )
        or ", ".join(manifest.source.get("buckets", []))
    }
    critical_info = manifest.details.get("critical", {})
    if critical_info.get("verified"):
        details["Critical files verified"] = ", ".join(critical_info["verified"])
    return details
