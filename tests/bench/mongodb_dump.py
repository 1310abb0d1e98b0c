"""Benchmark: the MongoDB job's dump and restore against plain pymongo on the same data.

    python -m tests.bench.mongodb_dump [--documents 200000]

On SecantusDB and fake-gcs-server (both local, started here):

* **dump**: the job (zstd, encryption and the resumable upload all on) against
  a single raw ``RawBSONDocument`` cursor read of the same collections, which
  is the floor any dump pays. Target: at least 80 % of the raw read's rate,
  with ``MONGODB_PARALLEL_COLLECTIONS=1``: SecantusDB serves concurrent
  cursors more slowly than one (``4``, the default, is what MongoDB likes).
* **restore**: the job's restore (verification pass, then the writing pass,
  4 collections at once with 2 insertion workers each) against the floor of
  any restore: plain ``insert_many`` of the same documents, already in memory,
  from 4 threads (one collection each, 5,000 documents a call).
* **memory**: each job's peak RSS at 1x and 4x the data. Target: flat (±10 %),
  since a dump holds a bounded number of parts and a restore a bounded number
  of batches whatever the size. 1x must be large enough for both to reach that
  bound (about 190 MB of documents by default); below it, peaks are lower and
  the comparison says nothing. Next to RSS, the C heap's peaks
  (:mod:`tests.bench.heap`): memory allocated and not freed, and memory the
  allocator holds; when RSS grows and the first does not, the growth is the
  allocator's. The job runs with its image's allocator settings
  (``IMAGE_ALLOCATOR``); ``--glibc-defaults`` shows what they buy.

The job runs as its own process (``python -m shared.mongodb.job``), so its
RSS is its own (its high-water mark, read from ``/proc``); its dump time is
the manifest's ``finished - started`` and its restore time the process's
wall time minus an empty run's (interpreter and imports). SecantusDB answers
every oplog query by scanning the whole oplog (about 0.2 s per 10,000 entries
here), where MongoDB seeks to the window's start; so that the ratio measures
the dump rather than that, its oplog is capped at 1,000 entries here (the
seeding's writes would otherwise leave 100,000 entries behind).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.devstack.process import LOCALHOST, REPO_ROOT, ManagedProcess, free_port, tcp_accepts
from tests.devstack.stack import Stack

COLLECTIONS = ("frames", "lenses", "orders", "customers")
WORDS = [
    "acetate",
    "titanium",
    "frame",
    "lens",
    "bridge",
    "temple",
    "hinge",
    "polarised",
    "round",
    "square",
    "aviator",
]
MIB = 1024 * 1024
TARGET_DUMP = 0.80
TARGET_FLAT = 0.10
# SecantusDB serves one cursor at a time fastest (its reads share one interpreter
# lock), so 1 is the figure that counts here for a dump (4, the default, is what MongoDB
# likes). Restores run with the defaults (4 collections, 2 insertion workers each).
DUMP_PARALLEL = 1
RESTORE_PARALLEL = 4
# The allocator settings of the job's image (functions/mongodb_job/Dockerfile).
IMAGE_ALLOCATOR = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}
INSERT_THREADS = 4


def _document(rng: random.Random, n: int) -> dict[str, Any]:
    import datetime as dt

    return {
        "n": n,
        "sku": f"EW-{rng.randint(0, 999_999):06d}",
        "name": " ".join(rng.choices(WORDS, k=6)),
        "price": round(rng.uniform(20, 400), 2),
        "stock": rng.randint(0, 500),
        "updated": dt.datetime(2025, 3, 25, tzinfo=dt.UTC) - dt.timedelta(seconds=n),
        "tags": rng.sample(WORDS, k=3),
        "description": " ".join(rng.choices(WORDS, k=rng.randint(60, 140))),
        "dimensions": {"width": rng.randint(120, 150), "bridge": rng.randint(14, 22)},
    }


def seed(client: Any, db_name: str, documents: int) -> int:
    """``documents`` spread over the collections; returns the BSON bytes stored."""
    rng = random.Random(7)
    per_collection = documents // len(COLLECTIONS)
    for name in COLLECTIONS:
        for start in range(0, per_collection, 5000):
            count = min(5000, per_collection - start)
            client[db_name][name].insert_many([_document(rng, start + i) for i in range(count)])
    return sum(int(client[db_name].command("collStats", name)["size"]) for name in COLLECTIONS)


def raw_read(client: Any, db_name: str) -> tuple[float, int]:
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument

    options = CodecOptions(document_class=RawBSONDocument)
    started = time.perf_counter()
    size = 0
    for name in COLLECTIONS:
        for document in client[db_name].get_collection(name, codec_options=options).find():
            size += len(document.raw)
    return time.perf_counter() - started, size


def insert_many(client: Any, source: str, target: str) -> float:
    """Seconds for parallel ``insert_many`` of documents already in memory: a restore's floor."""
    from concurrent.futures import ThreadPoolExecutor

    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument

    options = CodecOptions(document_class=RawBSONDocument)
    loaded = {
        name: list(client[source].get_collection(name, codec_options=options).find())
        for name in COLLECTIONS
    }

    def load(name: str) -> None:
        documents = loaded[name]
        for start in range(0, len(documents), 5000):
            client[target][name].insert_many(documents[start : start + 5000], ordered=False)

    started = time.perf_counter()
    with ThreadPoolExecutor(INSERT_THREADS) as pool:
        list(pool.map(load, loaded))
    return time.perf_counter() - started


@dataclass(frozen=True)
class Job:
    """One job process: wall and CPU seconds, peak RSS, and the C heap's peaks (MiB)."""

    wall: float
    rss: float
    cpu: float
    in_use: float
    held: float


def _high_water_kib(pid: int) -> int | None:
    """The process's peak RSS so far (``VmHWM``: its own, unlike a waited child's
    ``ru_maxrss``, which starts from the parent's RSS at fork)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds the process has used so far (``/proc/PID/stat``)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_job(argv: list[str], env: dict[str, str]) -> Job:
    """One job process, run under :mod:`tests.bench.heap`, watched until it exits."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile(suffix=".json") as heap:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.heap", "shared.mongodb.job", *argv],
            env={**env, "BENCH_HEAP_OUT": heap.name}, cwd=REPO_ROOT,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        peak, cpu = 0, 0.0
        while process.poll() is None:
            peak = max(peak, _high_water_kib(process.pid) or 0)
            cpu = max(cpu, _cpu_seconds(process.pid) or 0.0)
            time.sleep(0.02)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode(errors="replace")
        if process.returncode != 0:
            raise SystemExit(f"job {argv} failed:\n{text[-3000:]}")
        peaks = json.loads(Path(heap.name).read_text())
    return Job(wall, peak / 1024, cpu, peaks["in_use"] / MIB, peaks["held"] / MIB)


def dump_seconds(client: Any, bucket: Any) -> tuple[float, int]:
    """Duration and archive size of the newest backup, from its manifest."""
    from shared.catalog import Catalog

    manifest = Catalog(bucket, "mongodb").backups()[0].manifest
    assert manifest is not None
    return (manifest.finished - manifest.started).total_seconds(), manifest.size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200_000, help="at 1x; 4x is also run")
    parser.add_argument(
        "--glibc-defaults",
        action="store_true",
        help="run the job with glibc's allocator defaults instead of its image's settings",
    )
    args = parser.parse_args(argv)
    allocator = {} if args.glibc_defaults else IMAGE_ALLOCATOR
    workdir = Path(tempfile.mkdtemp(prefix="bench-mongodb-"))
    port = free_port()
    mongo = ManagedProcess(
        "mongo",
        [sys.executable, "-m", "secantus", "--host", LOCALHOST, "--port", str(port),
         "--storage-path", str(workdir / "data"), "--oplog-max-entries", "1000",
         "--log-level", "WARNING"],
        workdir / "mongo.log", stop_timeout=20,
    )  # fmt: skip
    with Stack(workdir=workdir / "stack") as stack:
        stack.start(["storage"])
        mongo.spawn()
        try:
            mongo.wait_until(lambda: tcp_accepts(port), 30)
            uri = f"mongodb://{LOCALHOST}:{port}/"
            rows = measure(stack, uri, workdir, args.documents, allocator)
        finally:
            mongo.stop()
    report(rows, allocator)


def measure(
    stack: Stack, uri: str, workdir: Path, documents: int, allocator: dict[str, str]
) -> list[dict[str, float]]:
    """One row per scale: the floors, the job's dump and restore, their memory."""
    import pymongo
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from shared.keys import generate_key_file

    os.environ.update(stack.env())
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **allocator}
    gcs = storage.Client(project="bench", credentials=AnonymousCredentials())
    key = workdir / "bench.key"
    generate_key_file(key)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri)
    empty = run_job(["--help"], env)
    rows = []
    for scale in (1, 4):
        db = f"bench{scale}"
        print(f"seeding {documents * scale:,} documents ...", flush=True)
        stored = seed(client, db, documents * scale)
        read_seconds, read_bytes = raw_read(client, db)
        bucket = gcs.create_bucket(f"bench-{scale}-{os.getpid()}")
        job_env = {
            **env,
            "MONGODB_URI": uri,
            "MONGODB_DB_NAME": db,
            "MONGODB_GCS_BUCKET": bucket.name,
            "ENCRYPTION_KEY_FILE": str(key),
            "MONGODB_PARALLEL_COLLECTIONS": str(DUMP_PARALLEL),
        }
        print(f"dumping {read_bytes / MIB:.0f} MiB ...", flush=True)
        backup = run_job(["backup", "--type", "daily"], job_env)
        dumped, archive = dump_seconds(client, bucket)
        today = time.strftime("%Y-%m-%d", time.gmtime())
        print("restoring ...", flush=True)
        restore = run_job(
            ["restore", "--date", today, "--type", "daily", "--target-db", f"{db}_restored"],
            {**job_env, "MONGODB_PARALLEL_COLLECTIONS": str(RESTORE_PARALLEL)},
        )
        rows.append(
            {
                "scale": scale, "bytes": read_bytes, "stored": stored, "archive": archive,
                "read_s": read_seconds, "dump_s": dumped, "dump_wall_s": backup.wall,
                "dump_rss": backup.rss, "dump_in_use": backup.in_use, "dump_held": backup.held,
                "dump_cpu_s": backup.cpu - empty.cpu, "restore_s": restore.wall - empty.wall,
                "restore_rss": restore.rss, "restore_in_use": restore.in_use,
                "restore_held": restore.held, "restore_cpu_s": restore.cpu - empty.cpu,
                "insert_s": insert_many(client, db, f"{db}_plain"),
            }
        )  # fmt: skip
        for name in (db, f"{db}_restored", f"{db}_plain"):
            client.drop_database(name)
    client.close()
    return rows


def report(rows: list[dict[str, float]], allocator: dict[str, str]) -> None:
    one, four = rows
    settings = " ".join(f"{k}={v}" for k, v in allocator.items()) or "glibc's defaults"
    print(f"\nallocator: {settings}")
    print(
        f"{'data':>9} {'raw read':>10} {'dump':>10} {'insert_many':>12} {'restore':>10} "
        f"{'archive':>9}"
    )
    for row in rows:
        size = row["bytes"] / MIB
        print(
            f"{size:7.1f}Mi {size / row['read_s']:7.1f}M/s {size / row['dump_s']:7.1f}M/s "
            f"{size / row['insert_s']:9.1f}M/s {size / row['restore_s']:7.1f}M/s "
            f"{row['archive'] / MIB:7.1f}Mi"
        )
    gib = four["bytes"] / (1024 * MIB)
    print(
        f"job CPU per GiB at 4x: dump {four['dump_cpu_s'] / gib:.0f} s, "
        f"restore {four['restore_cpu_s'] / gib:.0f} s"
    )
    print(f"\n{'memory (MiB)':<34} {'1x':>7} {'4x':>7} {'4x/1x-1':>8} {'target':>7}")
    for stage in ("dump", "restore"):
        for figure, label in (
            ("rss", "peak RSS"),
            ("in_use", "malloc in use"),
            ("held", "malloc held"),
        ):
            a, b = one[f"{stage}_{figure}"], four[f"{stage}_{figure}"]
            target = f"±{TARGET_FLAT}" if figure == "rss" else ""
            print(f"{stage + ' ' + label:<34} {a:7.1f} {b:7.1f} {b / a - 1:+8.2f} {target:>7}")
    print(f"\n{'comparison':<44} {'1x':>6} {'4x':>6} {'target':>7}")
    dump = [row["read_s"] / row["dump_s"] for row in rows]
    restore = [row["insert_s"] / row["restore_s"] for row in rows]
    label = f"dump rate / raw read rate (parallel {DUMP_PARALLEL})"
    print(f"{label:<44} {dump[0]:6.2f} {dump[1]:6.2f} {'>= ' + str(TARGET_DUMP):>7}")
    label = f"restore rate / {INSERT_THREADS}-thread insert_many rate"
    print(f"{label:<44} {restore[0]:6.2f} {restore[1]:6.2f}")
    print(json.dumps({"allocator": allocator, "rows": rows}))


if __name__ == "__main__":
    main()
