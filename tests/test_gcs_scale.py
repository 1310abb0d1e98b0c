"""Cloud Storage at scale: a listing cut across invocations, and the requests a run makes.

A bucket's listing goes on in steps of at most ``GCS_LIST_PAGES`` pages, each
step its own invocation on the deployed path (a listing message). Here each
step runs in a fresh context, as a new invocation would, with a tiny page
size so that a small bucket needs several; the snapshot must be byte for
byte the one a single listing writes. Requests are counted by the recording
proxy, per JSON API method, as Cloud Storage would bill them.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.config import GcsSettings
from shared.gcs import lister, shard_groups, worker
from shared.gcs.backup import run_backup
from shared.gcs.context import GcsContext
from shared.gcs.run import Plan, ShardRef, TodoItem, done_path, snapshot_path
from shared.gcs.steps import ListRef
from shared.manifest import Manifest, RunLocation, new_run_id
from tests.devstack.storage import unique_bucket_name
from tests.gcsfixtures import T0, CollectingSink, buckets, fill, make_settings, put
from tests.gcsproxy import CLASS_A, StorageProxy, proxy

__all__ = ["buckets", "proxy"]  # fixtures, imported for use here

# The bound on requests other than rewrites (see the README): per run, per earlier run in the
# catalog (its manifest is read), per shard.
PER_RUN, PER_EARLIER_RUN, PER_SHARD = 30, 2, 8
STEPPED = {"GCS_LIST_PAGE_SIZE": "2", "GCS_LIST_PAGES": "3", "GCS_SHARD_SIZE": "4"}


def run_in_invocations(
    settings: GcsSettings, proxy: StorageProxy | None = None, source: str = ""
) -> tuple[Manifest, int, list[int]]:
    """One run whose every listing step is its own invocation; (manifest, steps, pages per step)."""
    pages: list[int] = []

    def listed_pages() -> int:
        return len(proxy.requests("objects.list", source)) if proxy else 0

    with GcsContext(settings) as ctx:
        sink = CollectingSink(ctx)
        before = listed_pages()
        assert lister.start_backup(ctx, tier="daily", sink=sink) is None
        pages.append(listed_pages() - before)
    shards, pending = list(sink.shards), list(sink.listings)
    steps = 1
    while pending:
        with GcsContext(settings) as ctx:
            step_sink = CollectingSink(ctx)
            before = listed_pages()
            lister.continue_listing(ctx, pending.pop(0), step_sink)
            pages.append(listed_pages() - before)
        shards += step_sink.shards
        pending += step_sink.listings
        steps += 1
    with GcsContext(settings) as ctx:
        results = [worker.process_shard(ctx, shard) for shard in shards]
    manifest = results[-1]
    assert manifest is not None
    return manifest, steps, pages


def test_a_listing_across_invocations_writes_the_same_snapshot_as_one_listing(
    storage_client: Any, buckets: tuple[Any, Any], proxy: StorageProxy
) -> None:
    """Full and incremental: the incremental run reads the base snapshot step by step too."""
    source, single = buckets
    stepped = storage_client.create_bucket(unique_bucket_name("bak"))
    fill(source, 23)
    one = make_settings([source.name], single.name)
    many = make_settings([source.name], stepped.name, **STEPPED)

    for round_ in ("full", "incremental"):
        whole = run_backup(one)
        cut, steps, pages = run_in_invocations(many, proxy, source.name)
        assert whole.ok
        assert cut.ok, cut.error
        assert steps == 4  # 23 objects, 2 per page, 3 pages per step
        assert max(pages) <= 3
        assert cut.counts == {**whole.counts, "shards": 8}  # 6+6+6+5 objects, 4 per shard
        path = snapshot_path
        assert single.blob(path(whole.location, source.name)).download_as_bytes() == (
            stepped.blob(path(cut.location, source.name)).download_as_bytes()
        ), round_
        if round_ == "full":  # changes for the incremental round
            put(source, "assets/item-004.bin", b"changed")
            source.blob("assets/item-011.bin").delete()
            put(source, "assets/item-011a.bin", b"added")
    assert cut.counts["copied"] == 2
    assert cut.counts["reused"] == 21


def test_a_listing_step_that_died_midway_is_repeated_without_duplicates(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """The step recorded its first shard's work list, then died; meanwhile an object appeared.

    The repeated step keeps the recorded shard and lists on after its last
    name: the new object, which sorts inside that shard, is in no shard
    twice (it is simply not in this run), and every other object once.
    """
    source, backup = buckets
    fill(source, 14)  # steps of 6, 6 and 2 objects; the second step's first shard is 006-009
    settings = make_settings([source.name], backup.name, **STEPPED)

    class DiesAfterOneShard(CollectingSink):
        def submit(self, shard: ShardRef, items: list[TodoItem]) -> None:
            if self.shards:
                raise RuntimeError("killed")
            super().submit(shard, items)

    with GcsContext(settings) as ctx:
        sink = CollectingSink(ctx)
        assert lister.start_backup(ctx, tier="daily", sink=sink) is None
        [second_step] = sink.listings
        dying = DiesAfterOneShard(ctx)
        with pytest.raises(RuntimeError, match="killed"):
            lister.continue_listing(ctx, second_step, dying)
        put(source, "assets/item-006a.bin", b"created while the step was down")
        again = CollectingSink(ctx)
        lister.continue_listing(ctx, second_step, again)
        repeated = CollectingSink(ctx)  # and once more, after it completed
        lister.continue_listing(ctx, second_step, repeated)
        assert [s.index for s in repeated.shards] == []
        assert repeated.listings == again.listings
        shards = sink.shards + again.shards
        pending: list[ListRef] = list(again.listings)
        while pending:
            step_sink = CollectingSink(ctx)
            lister.continue_listing(ctx, pending.pop(0), step_sink)
            shards += step_sink.shards
            pending += step_sink.listings
        assert [s.index for s in shards] == list(range(len(shards)))
        manifest = [worker.process_shard(ctx, shard) for shard in shards][-1]
    assert manifest is not None
    assert manifest.ok
    names = [
        line.split(b'"name":"')[1].split(b'"')[0].decode()
        for line in backup.blob(snapshot_path(manifest.location, source.name))
        .download_as_bytes()
        .splitlines()
    ]
    assert names == sorted(set(names))
    assert len(names) == 14  # the object created mid-step sorted into the recorded shard


def test_requests_per_run_one_rewrite_per_object_and_none_for_unchanged_ones(
    storage_client: Any, buckets: tuple[Any, Any], proxy: StorageProxy
) -> None:
    """A full run rewrites each object once; an incremental run only what changed.

    Every other request is bounded by the run's shards, not by its objects.
    ``buckets.get`` are the client library's own: each storage client (one
    per copy thread) reads each bucket's metadata once, in the background,
    for its tracing attributes.
    """
    source, backup = buckets
    objects, shard_size, workers = 60, 20, 4
    fill(source, objects)
    settings = make_settings(
        [source.name],
        backup.name,
        GCS_SHARD_SIZE=str(shard_size),
        GCS_COPY_WORKERS=str(workers),
    )
    shards = objects // shard_size

    full = _counted(proxy, settings)
    put(source, "assets/item-007.bin", b"changed")
    put(source, "assets/item-042.bin", b"changed too")
    incremental = _counted(proxy, settings)
    unchanged = _counted(proxy, settings)
    print(f"\nrequests per run, {objects} objects in {shards} shards:")
    for name, counts in (("full", full), ("incremental", incremental), ("unchanged", unchanged)):
        print(f"  {name}: {dict(sorted(counts.items()))}")
    assert full["objects.rewrite"] == objects
    assert incremental["objects.rewrite"] == 2
    assert unchanged["objects.rewrite"] == 0
    for earlier, counts in enumerate((full, incremental, unchanged)):
        others = {op: n for op, n in counts.items() if op not in ("objects.rewrite", "buckets.get")}
        bound = PER_RUN + PER_EARLIER_RUN * earlier + PER_SHARD * shards
        assert sum(others.values()) <= bound, counts
        # 2 buckets, a client a copy thread (plus the lister's) per shard; the reads are
        # in the background, so one run's can land in the next run's count.
        assert counts["buckets.get"] <= 2 * (workers + 2) * shards < objects, counts
    class_a = sum(n for op, n in unchanged.items() if op in CLASS_A)
    assert class_a <= 12 + 3 * shards, unchanged  # a work list, attempt, result per shard


def _counted(proxy: StorageProxy, settings: GcsSettings) -> Counter[str]:
    proxy.reset()
    assert run_backup(settings).ok
    return proxy.counts()


def test_a_damaged_base_snapshot_fails_a_stepped_listing_at_its_last_step(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """Each step reads only its part of the previous snapshot; the CRC32C it hands on
    lets the last step still check the whole file, so a damaged base is never trusted."""
    source, backup = buckets
    fill(source, 14)
    settings = make_settings([source.name], backup.name, **STEPPED)
    first = run_backup(settings)
    assert first.ok
    path = snapshot_path(first.location, source.name)
    data = backup.blob(path).download_as_bytes()
    backup.blob(path).upload_from_string(data.replace(b"item-003", b"item-00X"))  # same size
    damaged = run_backup(settings)
    assert damaged.status == "failed"
    assert f"gs://{backup.name}/{path} does not match its manifest" in (damaged.error or "")


def test_completion_is_counted_per_group_of_shards(
    storage_client: Any, buckets: tuple[Any, Any], proxy: StorageProxy
) -> None:
    """A worker lists only its own group of 1000 results, never the whole run's."""
    _, backup = buckets
    settings = make_settings(["b-one", "b-two"], backup.name)
    location = RunLocation("", "gcs", "daily", new_run_id(T0))
    plan = Plan(T0, {"b-one": shard_groups.GROUP + 2, "b-two": 3}, ())

    def report(bucket: str, *indexes: int) -> None:
        def one(index: int) -> None:
            backup.blob(done_path(location, bucket, index)).upload_from_string(b"{}")

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(one, indexes))

    report("b-one", *range(shard_groups.GROUP + 1))  # all but the last of the second group
    report("b-two", 0, 2)
    with GcsContext(settings) as ctx:
        proxy.reset()
        assert not shard_groups.complete(ctx, location, plan, ShardRef(location, "b-one", 7))
        assert proxy.counts()["objects.list"] == 2  # its group (complete: marked), the markers
        assert not shard_groups.complete(ctx, location, plan, None)  # the listing's end: all
        report("b-one", shard_groups.GROUP + 1)
        assert not shard_groups.complete(ctx, location, plan, ShardRef(location, "b-one", 1001))
        report("b-two", 1)
        assert shard_groups.complete(ctx, location, plan, ShardRef(location, "b-two", 1))
    markers = {
        b.name.rsplit("complete/", 1)[1]
        for b in storage_client.list_blobs(backup, prefix=location.path("complete/"))
    }
    assert markers == {"b-one/000.json", "b-one/001.json", "b-two/000.json"}


def test_a_listing_step_that_keeps_dying_fails_the_run(
    storage_client: Any, buckets: tuple[Any, Any]
) -> None:
    """Each attempt at the second step is killed midway; the one after the last allowed
    attempt fails the run with a FAILED manifest naming the step, instead of the run
    staying in flight forever."""
    source, backup = buckets
    fill(source, 14)
    settings = make_settings([source.name], backup.name, GCS_LIST_ATTEMPTS="3", **STEPPED)

    class Killed(CollectingSink):
        def submit(self, shard: ShardRef, items: list[TodoItem]) -> None:
            raise RuntimeError("killed")

    with GcsContext(settings) as ctx:
        sink = CollectingSink(ctx)
        assert lister.start_backup(ctx, tier="daily", sink=sink) is None
        [second_step] = sink.listings
        for _ in range(3):
            with pytest.raises(RuntimeError, match="killed"):
                lister.continue_listing(ctx, second_step, Killed(ctx))
        manifest = lister.continue_listing(ctx, second_step, CollectingSink(ctx))
    assert manifest is not None
    assert manifest.status == "failed"
    assert f"listing step 1 of gs://{source.name}" in (manifest.error or "")
    assert "attempted 3 times without completing (GCS_LIST_ATTEMPTS=3)" in (manifest.error or "")
