"""Benchmark: the Cloud Storage backup against ``gsutil -m rsync -r``, bucket to bucket.

    python -m tests.bench.gcs_backup [--objects 10000] [--backend memory|filesystem|both]

One fake-gcs-server serves both tools. gsutil reaches fake-gcs-server only
over https, so the server runs in https mode (a throwaway self-signed
certificate) and our client talks https to it as well, without certificate
checks, exactly like gsutil is configured to. Cases, in this order, on the
same source bucket of ``--objects`` objects of 1 KiB:

* gsutil full: ``gsutil -m rsync -r gs://src gs://peer`` (server-side rewrites);
* ours full: a complete backup run (lister, shards on threads, completion step), defaults;
* ours incremental: after rewriting 1% of the objects, the next backup run;
* gsutil incremental: ``rsync`` again after the same change (for reference).

Our two runs also count every request they make, per JSON API method and
billing class (Class A, Class B), and time them: the per-request figures the
README's scale model is built from.

The server's two backends are slow in different places, and both are shown:
the memory backend scans a bucket's whole object list on every object
operation (a copy into a bucket of n objects costs O(n), so a full copy is
bound by the server for any client), while the filesystem backend (kept on a
RAM disk here) finds objects by path but walks the whole bucket for every
listing page (so listing-bound work, like an incremental run, pays O(n) per
page). Cloud Storage has neither cost.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.devstack.process import LOCALHOST
from tests.devstack.storage import FakeGcsServer, unique_bucket_name
from tests.gcsproxy import CLASS_A, CLASS_B, operation

OBJECT_SIZE = 1024
CHANGED_FRACTION = 0.01
TARGETS = {"full": 2.0, "incremental": 20.0}
BACKENDS = ("memory", "filesystem")


class HttpsFakeGcs(FakeGcsServer):
    """fake-gcs-server in https mode (self-signed), as gsutil requires."""

    def __init__(self, workdir: Path, backend: str, data: Path | None = None) -> None:
        super().__init__(workdir)
        self.backend = backend
        self.data = data or workdir / "data"

    @property
    def url(self) -> str:
        return f"https://{LOCALHOST}:{self.port}"

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("-scheme") + 1] = "https"
        command[command.index("-backend") + 1] = self.backend
        if self.backend == "filesystem":
            command += ["-filesystem-root", str(self.data)]
        return command

    def healthy(self) -> bool:
        import ssl

        context = ssl._create_unverified_context()
        try:
            with urllib.request.urlopen(f"{self.url}/storage/v1/b", context=context, timeout=1):
                return True
        except OSError:
            return False


class Requests:
    """Counts and times every request our clients make, per JSON API method (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    def record(self, response: Any, *args: Any, **kwargs: Any) -> None:
        parts = urlsplit(response.request.url)
        name = operation(response.request.method, unquote(parts.path), parse_qs(parts.query))
        with self.lock:
            self.counts[name] += 1
            self.seconds[name] += response.elapsed.total_seconds()

    def take(self) -> tuple[Counter[str], Counter[str]]:
        """The figures so far, and start counting afresh."""
        with self.lock:
            taken = (self.counts, self.seconds)
            self.counts, self.seconds = Counter(), Counter()
        return taken


def client_factory(server: HttpsFakeGcs, recorder: Requests) -> Callable[[], Any]:
    """Storage clients for the https emulator, certificate checks off (like gsutil's boto config)."""
    import requests
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    def new_client() -> Any:
        session = requests.Session()
        session.trust_env = False  # a CA bundle named in the environment would override verify
        session.verify = False
        session.hooks["response"].append(recorder.record)
        return storage.Client(project="bench", credentials=AnonymousCredentials(), _http=session)

    os.environ["STORAGE_EMULATOR_HOST"] = server.url
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    return new_client


def gsutil_command() -> list[str]:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise SystemExit("gsutil is part of the Google Cloud CLI, which is not installed")
    gsutil = Path(gcloud).resolve().parent / "gsutil"
    if not gsutil.exists():
        raise SystemExit(f"{gsutil} does not exist; install the CLI's gsutil component")
    return [str(gsutil)]


def gsutil_env(server: HttpsFakeGcs, home: Path) -> dict[str, str]:
    boto = home / "boto.cfg"
    boto.write_text(
        "[Credentials]\n"
        f"gs_json_host = {LOCALHOST}\n"
        f"gs_json_port = {server.port}\n"
        "[Boto]\nhttps_validate_certificates = False\n"
        "[GSUtil]\ndefault_project_id = bench\nprefer_api = json\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTO", "CLOUDSDK"))}
    env.update({
        "BOTO_CONFIG": str(boto),
        "HOME": str(home),
        "CLOUDSDK_CONFIG": str(home / "gcloud"),
        "CLOUDSDK_CORE_PASS_CREDENTIALS_TO_GSUTIL": "false",
    })  # fmt: skip
    return env


def fill(new_client: Callable[[], Any], bucket: str, names: list[str]) -> None:
    clients: dict[int, Any] = {}

    def upload(name: str) -> None:
        client = clients.setdefault(threading.get_ident(), new_client())
        client.bucket(bucket).blob(name).upload_from_string(os.urandom(OBJECT_SIZE))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(upload, names))


@contextlib.contextmanager
def timed(results: dict[str, float], case: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[case] = time.perf_counter() - start
    print(f"  {case:<20} {results[case]:8.2f} s", flush=True)


def report_requests(objects: int, runs: dict[str, tuple[Counter[str], Counter[str]]]) -> None:
    """Requests per run and per object, by method and billing class, with mean latency."""
    names = sorted({name for counts, _ in runs.values() for name in counts})
    print(f"\n  requests per run ({objects:,} objects)  " + "".join(f"{c:>22}" for c in runs))
    for name in names:
        cells = ""
        for counts, seconds in runs.values():
            mean = 1000 * seconds[name] / counts[name] if counts[name] else 0.0
            cells += f"{counts[name]:>10,} {mean:7.1f} ms  "
        billing = "A" if name in CLASS_A else "B" if name in CLASS_B else "-"
        print(f"  {name:<22} class {billing}  {cells}")
    for label, kinds in (("Class A", CLASS_A), ("Class B", CLASS_B)):
        per_object = [sum(c[k] for k in kinds) / objects for c, _ in (runs.values())]
        print(f"  {label} per object" + " " * 15 + "".join(f"{v:>22.4f}" for v in per_object))


def run(objects: int, backend: str) -> dict[str, float]:
    from shared import config, logs
    from shared.gcs.backup import run_backup

    logs.configure(level=40)  # errors only: the figures are the output
    workdir = Path(tempfile.mkdtemp(prefix="gcs-bench-"))
    ram = Path("/dev/shm")  # a RAM disk keeps the filesystem backend off the real disk
    data = Path(tempfile.mkdtemp(prefix="gcs-bench-", dir=ram if ram.is_dir() else workdir))
    results: dict[str, float] = {}
    try:
        with HttpsFakeGcs(workdir, backend, data) as server:
            recorder = Requests()
            new_client = client_factory(server, recorder)
            client = new_client()
            source, peer, backup = (unique_bucket_name(p) for p in ("src", "peer", "bak"))
            for name in (source, peer, backup):
                client.create_bucket(name)
            names = [f"assets/{i // 100:04d}/object-{i:06d}.bin" for i in range(objects)]
            print(f"filling gs://{source} with {objects:,} objects of {OBJECT_SIZE} bytes ...")
            fill(new_client, source, names)
            settings = config.gcs_settings(config.sources(environ={}, overrides={
                "GCS_SOURCE_BUCKETS": source, "GCS_BACKUP_BUCKET": backup,
            }))  # fmt: skip
            gsutil, env = gsutil_command(), gsutil_env(server, workdir)
            rsync = [*gsutil, "-q", "-m", "rsync", "-r", f"gs://{source}", f"gs://{peer}"]
            with timed(results, "gsutil full"):
                subprocess.run(rsync, env=env, check=True, capture_output=True)
            recorder.take()
            with timed(results, "ours full"):
                full = run_backup(settings, new_client=new_client)
            requests = {"full": recorder.take()}
            changed = names[:: int(1 / CHANGED_FRACTION)]
            fill(new_client, source, changed)
            recorder.take()
            with timed(results, "ours incremental"):
                incremental = run_backup(settings, new_client=new_client)
            requests["1% changed"] = recorder.take()
            with timed(results, "gsutil incremental"):
                subprocess.run(rsync, env=env, check=True, capture_output=True)
            peer_count = sum(1 for _ in client.list_blobs(peer))
            copied = (full.counts["copied"], incremental.counts["copied"], peer_count)
            if not (full.ok and incremental.ok and copied == (objects, len(changed), objects)):
                raise SystemExit(f"a run did not copy what it should have: {copied}")
            report_requests(objects, requests)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    args = parser.parse_args(argv)
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    rows = []
    for backend in backends:
        print(f"fake-gcs-server, {backend} backend, https: {args.objects:,} objects")
        t = run(args.objects, backend)
        rows.append(
            (backend, t, t["gsutil full"] / t["ours full"], t["ours full"] / t["ours incremental"])
        )
    print()
    print(
        f"{'backend':<11} {'gsutil':>8} {'ours':>8} {'ours 1%':>8} {'gsutil 1%':>9}"
        f" {'full: gsutil/ours':>18} {'1%: full/incremental':>21}"
    )
    for backend, t, full, incremental in rows:
        print(
            f"{backend:<11} {t['gsutil full']:7.1f}s {t['ours full']:7.1f}s "
            f"{t['ours incremental']:7.1f}s {t['gsutil incremental']:8.1f}s {full:17.1f}x "
            f"{incremental:20.1f}x"
        )
    print(f"{'target':<47} {TARGETS['full']:17.1f}x {TARGETS['incremental']:20.1f}x")


if __name__ == "__main__":
    main()
