"""Bring a bucket to a snapshot's state, object by object: compare, copy what differs, verify.

The object level under :mod:`shared.gcs.bucket_restore` (which resolves the
snapshot and decides where and whether to write).

An existing destination keeps every object that already equals the snapshot
(same bytes by size and checksums, same restorable attributes) and every
object the snapshot does not know, unless ``delete_extra`` is asked. Writes
are server-side rewrites from the backup copies, each conditional on the
destination generation seen when comparing, so an object changed by someone
else during the restore is reported and left alone instead of clobbered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared import storage
from shared.errors import DRError
from shared.gcs import properties
from shared.gcs.context import GcsContext
from shared.gcs.copier import rewrite
from shared.gcs.run import TARGET
from shared.gcs.snapshot import LIST_PROJECTION, ObjectEntry
from shared.manifest import Manifest
from shared.target import Progress, RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.storage import Blob

log = logging.getLogger(__name__)

PLAN_LINES = 1000  # a dry run lists this many actions; the counts cover them all
PROGRESS_EVERY = 500


@dataclass
class Diff:
    """What restoring ``entries`` over a destination's current objects means."""

    write: list[ObjectEntry] = field(default_factory=list)
    overwrite: list[tuple[ObjectEntry, int]] = field(default_factory=list)
    unchanged: int = 0
    extra: list[tuple[str, int]] = field(default_factory=list)

    def plan(self, delete_extra: bool) -> tuple[str, ...]:
        lines = [f"write {e.name}" for e in self.write]
        lines += [f"overwrite {e.name}" for e, _ in self.overwrite]
        verb = "delete" if delete_extra else "keep (not in the snapshot)"
        lines += [f"{verb} {name}" for name, _ in self.extra]
        if len(lines) > PLAN_LINES:
            lines = [*lines[:PLAN_LINES], f"... and {len(lines) - PLAN_LINES} more"]
        return tuple(lines)


def current_objects(ctx: GcsContext, bucket: str) -> dict[str, Blob] | None:
    """The destination's live objects by name, or ``None`` if the bucket does not exist."""
    from google.api_core import exceptions

    try:
        with storage.translate_errors(f"listing gs://{bucket}"):
            return {
                blob.name: blob
                for blob in ctx.client().list_blobs(
                    ctx.bucket(bucket), projection=LIST_PROJECTION, retry=storage.retry_policy()
                )
            }
    except DRError as exc:
        if isinstance(exc.__cause__, exceptions.NotFound):
            return None
        raise


def diff(entries: Iterable[ObjectEntry], existing: Mapping[str, Blob]) -> Diff:
    result = Diff()
    names = set()
    for entry in entries:
        names.add(entry.name)
        blob = existing.get(entry.name)
        if blob is None:
            result.write.append(entry)
        elif entry.stored_as(blob) and not entry.attributes_differ(blob):
            result.unchanged += 1
        else:
            result.overwrite.append((entry, int(blob.generation or 0)))
    result.extra = [(n, int(b.generation or 0)) for n, b in existing.items() if n not in names]
    return result


def apply(
    ctx: GcsContext, bucket: str, changes: Diff, delete_extra: bool, progress: Progress
) -> list[str]:
    """Copy and (if asked) delete; returns one line per object that failed."""
    work = [(entry, 0) for entry in changes.write] + changes.overwrite
    failures: list[str] = []
    for done, error in enumerate(
        ctx.parallel(lambda item: _restore_object(ctx, bucket, *item), work), start=1
    ):
        if error:
            failures.append(error)
        if done % PROGRESS_EVERY == 0:
            progress.update(restored=done, of=len(work), failed=len(failures))
    if delete_extra:
        for name, problem in zip(
            [name for name, _ in changes.extra],
            ctx.parallel(lambda item: _delete(ctx, bucket, *item), changes.extra),
            strict=True,
        ):
            if problem:
                failures.append(f"{name}: {problem}")
    return failures


def _restore_object(
    ctx: GcsContext, bucket: str, entry: ObjectEntry, generation: int
) -> str | None:
    from google.api_core import exceptions

    key = properties.key_name(entry.kms_key_name)
    destination = ctx.bucket(bucket).blob(entry.name, kms_key_name=key)
    properties.prepare_rewrite(entry, destination)
    try:
        rewrite(ctx.backup_bucket().blob(entry.copy), destination, generation)
        if not entry.stored_as(destination):
            return (
                f"{entry.name}: restored bytes differ from the snapshot ({entry.describe_sums()})"
            )
        if properties.settle(entry, destination):  # what the rewrite body did not set
            destination.patch(
                if_generation_match=destination.generation, retry=storage.retry_policy()
            )
    except exceptions.PreconditionFailed:
        return f"{entry.name}: changed at the destination during the restore; left as it is"
    except (DRError, exceptions.GoogleAPIError, OSError) as exc:
        return f"{entry.name}: {type(exc).__name__}: {exc}"
    return None


def _delete(ctx: GcsContext, bucket: str, name: str, generation: int) -> str | None:
    try:
        storage.delete(ctx.bucket(bucket), name, generation)
    except DRError as exc:
        return str(exc)
    return None


def verify(ctx: GcsContext, bucket: str, entries: Iterable[ObjectEntry]) -> tuple[int, list[str]]:
    """``(extra objects, problems)`` after comparing every object with the snapshot."""
    existing = current_objects(ctx, bucket) or {}
    problems: list[str] = []
    names = set()
    for entry in entries:
        names.add(entry.name)
        blob = existing.get(entry.name)
        if blob is None:
            problems.append(f"{entry.name}: missing")
        elif not entry.stored_as(blob):
            problems.append(
                f"{entry.name}: {blob.size} bytes, crc32c {blob.crc32c}, md5 {blob.md5_hash}; "
                f"the snapshot says {entry.describe_sums()}"
            )
        elif differ := entry.attributes_differ(blob):
            problems.append(f"{entry.name}: {', '.join(differ)} differ from the snapshot")
    return sum(1 for name in existing if name not in names), problems


class Outcome:
    """Builds the :class:`RestoreOutcome` of one restore from what it found and did."""

    def __init__(
        self,
        manifest: Manifest,
        source: str,
        destination: str,
        objects: int,
        changes: Diff,
        delete_extra: bool,
        notes: list[str] | None = None,
    ) -> None:
        self.manifest = manifest
        self.notes = notes if notes is not None else []
        self.source = source
        self.destination = destination
        self.objects = objects
        self.changes = changes
        self.delete_extra = delete_extra

    def _build(
        self,
        mode: str,
        verified: bool | None,
        counts: dict[str, int],
        notes: list[str],
        plan: tuple[str, ...] = (),
    ) -> RestoreOutcome:
        location = self.manifest.location
        return RestoreOutcome(
            target=TARGET,
            mode=mode,
            backup=f"{location.tier}/{location.slot}/{location.run_id}",
            destination=f"gs://{self.destination}",
            verified=verified,
            counts=counts,
            notes=tuple(notes),
            plan=plan,
            details={
                "source_bucket": self.source,
                "snapshot_time": self.manifest.started.isoformat(),
                "manifest": location.manifest_path,
            },
        )

    def _counts(self) -> dict[str, int]:
        c = self.changes
        extra_key = "deleted" if self.delete_extra else "extra_kept"
        return {
            "objects": self.objects,
            "written": len(c.write),
            "overwritten": len(c.overwrite),
            "unchanged": c.unchanged,
            extra_key: len(c.extra),
        }

    def plan(self, creates_bucket: bool, needs_confirm: bool) -> RestoreOutcome:
        notes = []
        if creates_bucket:
            notes.append(f"gs://{self.destination} does not exist and would be created")
        if needs_confirm:
            notes.append(
                f"gs://{self.destination} is a production bucket: the restore needs "
                f"confirm={self.destination!r}"
            )
        return self._build(
            "plan", None, self._counts(), notes, self.changes.plan(self.delete_extra)
        )

    def done(
        self, mode: str, failures: list[str], problems: list[str], extra: int, created: bool
    ) -> RestoreOutcome:
        """``verified`` only if every object matches and no stray object remains where none may."""
        counts = {**self._counts(), "failed": len(failures), "mismatched": len(problems)}
        notes = [*failures[:20], *problems[:20], *self.notes]
        strict = mode == "test" or self.delete_extra
        if created and mode == "restore":
            notes.append(f"created bucket gs://{self.destination}")
        if extra and not strict:
            notes.append(f"{extra} object(s) not in the snapshot were left in place (delete_extra)")
        elif extra:
            notes.append(f"{extra} object(s) not in the snapshot remain")
        if mode == "test":
            notes.append(f"test bucket gs://{self.destination} was deleted")
        verified = not failures and not problems and not (strict and extra)
        (log.info if verified else log.error)(
            "%s of gs://%s into gs://%s: %s",
            mode,
            self.source,
            self.destination,
            "verified" if verified else "NOT verified",
            extra={"fields": {"counts": counts}},
        )
        return self._build(mode, verified, counts, notes)
