"""A bucket's listing cut into name ranges listed at once, bounded by the previous snapshot.

Cloud Storage lists one bucket in name order, a page at a time, each page
needing the token of the one before: one listing of 100 million objects is
100,000 pages one after another (~11 hours). Lists with ``start_offset`` and
``end_offset`` cover one name range each and run side by side, each through
the same resumable steps (:mod:`shared.gcs.listing`).

The bounds come from the previous snapshot, which is sorted by name: a run
whose base holds ``N`` objects of a bucket lists it in
``ceil(N / GCS_LIST_RANGE_OBJECTS)`` ranges (at most ``MAX_RANGES``). Range
``k`` starts at the first whole line after byte ``k * size / ranges`` of the
previous snapshot, about every ``GCS_LIST_RANGE_OBJECTS``-th name, found
with one ranged read per bound; names equal to a bound belong to the range
it starts. A first run, or a bucket new to the run, is listed in one range.
Each range reads the previous snapshot alongside from its bound's byte on;
when every range has ended, their segments' sizes and CRC32Cs, combined,
must be the file's (:func:`check_segments`), so a damaged base is caught
without reading it twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from shared import storage
from shared.errors import IntegrityError
from shared.gcs.compose import crc32c_combine, crc32c_text
from shared.gcs.context import GcsContext
from shared.gcs.reader import Position
from shared.gcs.run import Bound, Plan, snapshot_path
from shared.gcs.snapshot import ObjectEntry
from shared.manifest import Artifact, Manifest

MAX_RANGES = 1000
PROBE_BYTES = 64 * 1024  # a read long enough to hold one whole snapshot line after a cut


def base_snapshot(ctx: GcsContext, header: Plan, bucket: str) -> tuple[Manifest, Artifact] | None:
    """The run's base and its snapshot of ``bucket``, if it has one."""
    if header.base is None:
        return None
    backup = ctx.backup_bucket()
    found = storage.read_json(backup, header.base)
    if found is None:
        raise IntegrityError(f"gs://{backup.name}/{header.base} (the base snapshot) is gone")
    base = Manifest.from_json(found[0], f"gs://{backup.name}/{header.base}")
    path = snapshot_path(base.location, bucket)
    artifact = next((a for a in base.artifacts if a.path == path), None)
    return None if artifact is None else (base, artifact)


def choose_bounds(ctx: GcsContext, header: Plan) -> dict[str, tuple[Bound, ...]]:
    """Per bucket listed in more than one range, where its ranges after the first start."""
    chosen = {}
    for bucket in header.shards:
        found = base_snapshot(ctx, header, bucket)
        if found is None:
            continue
        base, artifact = found
        objects = int(base.details.get("buckets", {}).get(bucket, {}).get("objects", 0))
        ranges = min(MAX_RANGES, -(-objects // ctx.settings.list_range_objects))
        bounds: list[Bound] = []
        for k in range(1, ranges):
            bound = _probe(ctx, artifact, k * artifact.size // ranges)
            if bound is not None and (not bounds or bound.name > bounds[-1].name):
                bounds.append(bound)
        if bounds:
            chosen[bucket] = tuple(bounds)
    return chosen


def _probe(ctx: GcsContext, artifact: Artifact, offset: int) -> Bound | None:
    """The first whole line of the snapshot that starts after byte ``offset``."""
    backup = ctx.backup_bucket()
    where = f"gs://{backup.name}/{artifact.path}"
    end = min(offset + PROBE_BYTES, artifact.size) - 1
    with storage.translate_errors(where):
        data = backup.blob(artifact.path).download_as_bytes(
            start=offset, end=end, retry=storage.retry_policy()
        )
    first = data.find(b"\n") + 1
    last = data.find(b"\n", first)
    if first == 0 or last < 0:
        return None
    try:
        entry = ObjectEntry.from_json(json.loads(data[first:last]), f"{where} at {offset + first}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{where} at byte {offset + first} is not JSON: {exc}") from None
    return Bound(entry.name, offset + first)


def check_segments(
    ctx: GcsContext, header: Plan, bucket: str, segments: Sequence[Position]
) -> None:
    """The previous snapshot, read by the ranges in ``segments``, is the file its manifest says."""
    found = base_snapshot(ctx, header, bucket)
    if found is None:
        return
    artifact = found[1]
    size, crc = 0, 0
    for segment in segments:
        if segment.origin != size:
            break
        crc, size = crc32c_combine(crc, segment.crc32c, segment.offset - size), segment.offset
    if (size, crc32c_text(crc)) != (artifact.size, artifact.crc32c):
        raise IntegrityError(
            f"gs://{ctx.settings.backup_bucket}/{artifact.path} does not match its manifest "
            f"(its name ranges read {size} contiguous bytes, crc32c {crc32c_text(crc)}; "
            f"manifest says {artifact.size} bytes, crc32c {artifact.crc32c})"
        )
