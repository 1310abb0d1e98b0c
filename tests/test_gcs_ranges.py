"""A bucket listed in name ranges at once, bounded by the previous snapshot's names.

Each range's steps run here as separate invocations would, in an order that
interleaves the ranges, with a page size of 2; the snapshot must be byte for
byte the one a single listing of the same objects writes. Names are chosen
to sort oddly (``/`` before letters, multi-byte UTF-8, names that are
prefixes of others), and objects are rewritten, deleted and created at the
bounds and inside ranges while the ranges are being listed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from shared.errors import RequestError
from shared.gcs import lister, ranges, worker
from shared.gcs.backup import run_backup
from shared.gcs.context import GcsContext
from shared.gcs.reader import Position
from shared.gcs.run import Plan, ShardRef, snapshot_path
from shared.gcs.steps import ListCursor, ListRef
from shared.manifest import Manifest, RunLocation, new_run_id
from tests.gcsfixtures import T0, CollectingSink, buckets, make_settings, put

__all__ = ["buckets"]  # fixtures, imported for use here

NAMES = [
    "a",
    "a/b",
    "a/b/c",
    "a0",
    "a\u00e9",
    "b",
    "b/",
    "b/x y",
    "caf\u00e9/menu.json",
    "cafe/menu.json",
    "d-1",
    "d.1",
    "d/1",
    "d_1",
    "e\U0001f600",
    "f\u65e5\u672c/\u8a9e",
    "g" * 200,
    "z",
    "~tilde",
    "\u00fcber",
]
RANGED = {
    "GCS_LIST_PAGE_SIZE": "2",
    "GCS_LIST_PAGES": "2",
    "GCS_SHARD_SIZE": "3",
    "GCS_LIST_RANGE_OBJECTS": "5",
}


def run_stepwise(
    ctx: GcsContext, before_step: Callable[[int, ListRef], None] = lambda n, ref: None
) -> tuple[Manifest, list[ListRef]]:
    """A run whose listing steps each run as their own invocation, last handed on first
    (so the ranges interleave); ``before_step`` runs before each further step."""
    sink = CollectingSink(ctx)
    assert lister.start_backup(ctx, tier="daily", sink=sink) is None
    shards: list[ShardRef] = list(sink.shards)
    pending: list[ListRef] = list(sink.listings)
    steps: list[ListRef] = []
    while pending:
        ref = pending.pop()
        before_step(len(steps), ref)
        steps.append(ref)
        step_sink = CollectingSink(ctx)
        lister.continue_listing(ctx, ref, step_sink)
        shards += step_sink.shards
        pending += step_sink.listings
    manifest = [worker.process_shard(ctx, shard) for shard in shards][-1]
    assert manifest is not None
    return manifest, steps


def snapshot(bucket: Any, manifest: Manifest, source: str) -> bytes:
    data: bytes = bucket.blob(snapshot_path(manifest.location, source)).download_as_bytes()
    return data


def test_ranges_listed_at_once_write_the_snapshot_of_one_listing(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    source, single = buckets
    ranged = storage_client.create_bucket(f"{single.name}-r")
    for n, name in enumerate(NAMES):
        put(source, name, f"object {n}".encode())
    settings = make_settings([source.name], ranged.name, **RANGED)
    first = run_backup(settings)  # no base yet: one range
    assert first.ok, first.error
    with GcsContext(settings) as ctx:
        header = Plan(T0, {source.name: 0}, (), first.location.manifest_path)
        bounds = ranges.choose_bounds(ctx, header)[source.name]
    assert len(bounds) == 3  # 20 objects, 5 a range
    names = [b.name for b in bounds]
    assert names == sorted(names)
    assert all(name in NAMES for name in names)

    # Between the runs: a bound's object rewritten, another bound's object deleted.
    put(source, names[0], b"rewritten")
    source.blob(names[1]).delete()

    def range_of(name: str) -> int:
        return sum(1 for bound in names if bound <= name)

    # While listing, just before each change's range is listed: an object created, one
    # recreated at a bound, one deleted.
    created, deleted = "zz-created-while-listing", "z"
    assert range_of(created) == range_of(deleted) == 3
    changes: dict[int, list[Callable[[], object]]] = {
        3: [lambda: put(source, created, b"new"), lambda: source.blob(deleted).delete()],
        2: [lambda: put(source, names[1], b"recreated at the bound")],
    }

    midway: list[str] = []

    def before_step(number: int, ref: ListRef) -> None:
        if ref.cursor.step == 0:
            for change in changes.pop(ref.name_range, []):
                change()
        elif not midway and ref.cursor.after is not None:  # inside a range, between its steps
            # Past the next page's first name: an object created between the last page
            # fetched and the next (the page token's position) is not in this run.
            after, current = ref.cursor.after, {b.name for b in source.list_blobs()}
            ahead = sorted(n for n in current if n > after and range_of(n) == ref.name_range)
            created = f"{ahead[0]}-created-midway" if len(ahead) > 1 else ""
            if created and range_of(created) == ref.name_range:
                source.blob(ahead[-1]).delete()
                put(source, created, b"new")
                midway.extend([ahead[-1], created])

    with GcsContext(settings) as ctx:
        cut, steps = run_stepwise(ctx, before_step)
    assert cut.ok, cut.error
    assert not changes
    assert midway  # an object deleted and one created inside a range, while it was listed
    assert {ref.name_range for ref in steps} == {0, 1, 2, 3}
    whole = run_backup(make_settings([source.name], single.name))
    assert whole.ok, whole.error
    assert snapshot(ranged, cut, source.name) == snapshot(single, whole, source.name)
    assert cut.counts["objects"] == whole.counts["objects"]
    plan = ranged.blob(cut.location.path("plan.json")).download_as_text()
    assert f'"{source.name}~0003"' in plan

    again, _ = run_stepwise_in(settings)  # an unchanged bucket, listed in ranges again
    assert again.counts["copied"] == 0
    assert snapshot(ranged, again, source.name) == snapshot(single, whole, source.name)


def run_stepwise_in(settings: Any) -> tuple[Manifest, list[ListRef]]:
    with GcsContext(settings) as ctx:
        return run_stepwise(ctx)


def test_a_damaged_base_snapshot_fails_a_listing_in_ranges(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """Each range reads its own segment of the previous snapshot; the segments' CRC32Cs,
    combined when the last range ends, must be the file's."""
    source, backup = buckets
    for n, name in enumerate(NAMES):
        put(source, name, f"object {n}".encode())
    settings = make_settings([source.name], backup.name, **RANGED)
    first = run_backup(settings)
    path = snapshot_path(first.location, source.name)
    data = backup.blob(path).download_as_bytes()
    backup.blob(path).upload_from_string(data.replace(b'"d-1"', b'"d-2"'))  # same size
    damaged = run_backup(settings)
    assert damaged.status == "failed"
    assert f"gs://{backup.name}/{path} does not match its manifest" in (damaged.error or "")
    assert "name ranges read" in (damaged.error or "")


def test_shard_and_listing_messages_carry_their_range_and_refuse_a_bad_one() -> None:
    location = RunLocation("", "gcs", "daily", new_run_id(T0))
    shard = ShardRef(location, "assets", 7, 2)
    listing = ListRef(location, "assets", ListCursor(step=3, base=Position(10, 5, 4)), 2)
    assert ShardRef.from_message(json.loads(shard.to_message())) == shard
    assert ListRef.from_message(json.loads(listing.to_message())) == listing
    assert "range" not in json.loads(ShardRef(location, "assets", 7).to_message())
    assert shard.key == listing.key == "assets~0002"
    with pytest.raises(RequestError, match="range -1 is not a range number"):
        ShardRef.from_message({**json.loads(shard.to_message()), "range": -1})
