"""Whether every shard of a run has reported, at a cost that does not grow with the run.

A worker that lists every shard result after its own costs a run of S shards
S²/1000 listing pages: at 100,000 shards (100 million objects) that is ten
million Class A operations. Instead results are counted in *groups* of
``GROUP`` shards (one listing page, since result names are zero-padded shard
numbers): a worker lists only its own group, and the worker that sees its
group complete records a marker and lists the markers. Each shard then costs
one listing page, and a group's last one or two more.

Shards that finish before the plan exists cannot know their group's size; so
whoever writes the plan (the end of the listing) runs the one full check,
which lists every result once and marks every complete group. Every result
is thus seen by a check that runs after it is written: the one full check,
or its group's.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Mapping

from shared import storage
from shared.errors import ConflictError
from shared.gcs.context import GcsContext
from shared.gcs.run import Plan, ShardRef, done_prefix
from shared.manifest import RunLocation

GROUP = 1000  # shard results per group; result names are 6-digit shard numbers


def group_prefix(location: RunLocation, bucket: str, group: int) -> str:
    return f"{done_prefix(location)}{bucket}/{group:03d}"


def marker_path(location: RunLocation, bucket: str, group: int) -> str:
    return location.path(f"complete/{bucket}/{group:03d}.json")


def complete(ctx: GcsContext, location: RunLocation, plan: Plan, shard: ShardRef | None) -> bool:
    """True when all ``plan.total`` shards have reported; ``shard``: the one that just did."""
    sizes = {key: shards for bucket in plan.shards for key, shards in plan.series_of(bucket)}
    if shard is None:
        reported = Counter(_group_of_result(name) for name in _names(ctx, done_prefix(location)))
        for (key, group), count in reported.items():
            if count >= _group_size(sizes, key, group):
                _mark(ctx, location, key, group)
    else:
        group = shard.index // GROUP
        count = sum(1 for _ in _names(ctx, group_prefix(location, shard.key, group)))
        if count < _group_size(sizes, shard.key, group):
            return False
        _mark(ctx, location, shard.key, group)
    groups = sum(-(-shards // GROUP) for shards in sizes.values())
    return sum(1 for _ in _names(ctx, location.path("complete/"))) >= groups


def _group_size(sizes: Mapping[str, int], key: str, group: int) -> int:
    return min(GROUP, sizes.get(key, 0) - group * GROUP)


def _group_of_result(name: str) -> tuple[str, int]:
    """``(bucket, group)`` of ``.../done/<bucket>/<NNNNNN>.part``."""
    bucket, leaf = name.rsplit("/", 2)[-2:]
    return bucket, int(leaf.split(".", 1)[0]) // GROUP


def _mark(ctx: GcsContext, location: RunLocation, bucket: str, group: int) -> None:
    with contextlib.suppress(ConflictError):  # another worker saw the group complete too
        storage.create_json(ctx.backup_bucket(), marker_path(location, bucket, group), {})


def _names(ctx: GcsContext, prefix: str) -> list[str]:
    backup = ctx.backup_bucket()
    with storage.translate_errors(f"listing gs://{backup.name}/{prefix}"):
        return [
            blob.name
            for blob in ctx.client().list_blobs(
                backup, prefix=prefix, fields="items(name),nextPageToken",
                retry=storage.retry_policy(),
            )
        ]  # fmt: skip
