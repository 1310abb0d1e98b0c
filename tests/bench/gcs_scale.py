"""Benchmark: a bucket listed in name ranges at once, and a snapshot composed from parts.

    python -m tests.bench.gcs_scale [--objects 10000] [--ranges 8] [--shard-size 50]
                                    [--page-size 1000]

On one fake-gcs-server (memory backend), after a first backup run of
``--objects`` objects in shards of ``--shard-size``:

* listing: the whole bucket compared with the previous snapshot, as one
  listing, then as ``--ranges`` name ranges listed at once (bounds from the
  previous snapshot, as a run chooses them), each on its own thread;
* snapshot: the run's shard parts composed server side into one snapshot
  (what the completion step does), then the same parts read and written as one
  stream (what a completion step that reads every entry costs at the least).

Both print wall time and requests per method. The emulator runs on the same
two cores as the benchmark, so parallel listing gains less here than against
Cloud Storage, where each range is served independently.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.bench.gcs_backup import HttpsFakeGcs, Requests, client_factory, fill
from tests.devstack.storage import unique_bucket_name


def _show(label: str, seconds: float, counts: Counter[str]) -> None:
    calls = ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items()))
    print(f"  {label:<34} {seconds:8.2f} s   {calls}", flush=True)


def run(objects: int, ranges_wanted: int, shard_size: int, page_size: int) -> dict[str, float]:
    from shared import config, logs, storage
    from shared.gcs import compose, listing, pages, ranges
    from shared.gcs.backup import run_backup
    from shared.gcs.context import GcsContext
    from shared.gcs.reader import Position
    from shared.gcs.run import Plan, done_path, snapshot_path
    from shared.gcs.snapshot import JSONL

    logs.configure(level=40)
    workdir = Path(tempfile.mkdtemp(prefix="gcs-scale-bench-"))
    results: dict[str, float] = {}
    try:
        with HttpsFakeGcs(workdir, "memory") as server:
            recorder = Requests()
            new_client = client_factory(server, recorder)
            client = new_client()
            source, backup = unique_bucket_name("src"), unique_bucket_name("bak")
            for name in (source, backup):
                client.create_bucket(name)
            names = [f"assets/{i // 100:04d}/object-{i:06d}.bin" for i in range(objects)]
            print(f"filling gs://{source} with {objects:,} objects and backing it up once ...")
            fill(new_client, source, names)
            settings = config.gcs_settings(config.sources(environ={}, overrides={
                "GCS_SOURCE_BUCKETS": source,
                "GCS_BACKUP_BUCKET": backup,
                "GCS_SHARD_SIZE": str(shard_size),
                "GCS_LIST_PAGE_SIZE": str(page_size),
                "GCS_LIST_RANGE_OBJECTS": str(-(-objects // ranges_wanted)),
            }))  # fmt: skip
            first = run_backup(settings, new_client=new_client)
            if not first.ok:
                raise SystemExit(f"the first run failed: {first.error}")
            header = Plan(first.started, {source: 0}, (), first.location.manifest_path)
            with GcsContext(settings, new_client=new_client) as ctx:
                bounds = ranges.choose_bounds(ctx, header).get(source, ())
                spans = list(
                    zip(
                        [None, *[b.name for b in bounds]],
                        [*[b.name for b in bounds], None],
                        [Position(), *[Position(b.offset, 0, b.offset) for b in bounds]],
                        strict=True,
                    )
                )

                def list_range(span: tuple[str | None, str | None, Position]) -> int:
                    first_name, end, start = span
                    lookup = listing.base_lookup(ctx, header, source, start)
                    found = pages.Listing(ctx, source, None, None, first_name, end)
                    return sum(1 for item in found.items(lookup) if item.reuse)

                print(f"listing {objects:,} objects against the previous snapshot:")
                recorder.take()
                started = time.perf_counter()
                assert list_range((None, None, Position())) == objects
                results["one listing"] = time.perf_counter() - started
                _show("one listing", results["one listing"], recorder.take()[0])
                started = time.perf_counter()
                with ThreadPoolExecutor(len(spans)) as pool:
                    assert sum(pool.map(list_range, spans)) == objects
                results["ranges"] = time.perf_counter() - started
                _show(f"{len(spans)} ranges at once", results["ranges"], recorder.take()[0])

                shards = first.counts["shards"]
                sources = [done_path(first.location, source, n) for n in range(shards)]
                target = snapshot_path(first.location, source)
                print(f"one snapshot from {shards:,} shard parts:")
                started = time.perf_counter()
                blob = compose.compose(
                    ctx, sources, f"{target}.composed", JSONL, first.location.path("compose/")
                )
                results["compose"] = time.perf_counter() - started
                _show("parts composed", results["compose"], recorder.take()[0])
                started = time.perf_counter()
                stored: list[storage.StoredObject] = []
                bucket = ctx.backup_bucket()
                with storage.upload_stream(bucket, f"{target}.streamed", JSONL, stored) as sink:
                    for path in sources:
                        sink.write(bucket.blob(path).download_as_bytes())
                results["stream"] = time.perf_counter() - started
                _show("parts read and streamed", results["stream"], recorder.take()[0])
                if (blob.size, blob.crc32c) != (stored[0].size, stored[0].crc32c):
                    raise SystemExit("the composed and the streamed snapshot differ")
                print(f"  snapshot: {blob.size:,} bytes, crc32c {blob.crc32c}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--ranges", type=int, default=8)
    parser.add_argument("--shard-size", type=int, default=50)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args(argv)
    t = run(args.objects, args.ranges, args.shard_size, args.page_size)
    print(
        f"\nlisting: one {t['one listing']:.1f} s, in ranges {t['ranges']:.1f} s "
        f"({t['one listing'] / t['ranges']:.1f}x); snapshot: streamed {t['stream']:.1f} s, "
        f"composed {t['compose']:.1f} s ({t['stream'] / t['compose']:.1f}x)"
    )


if __name__ == "__main__":
    main()
