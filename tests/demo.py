"""The whole system on a local stack, end to end, with a report: ``nox -s demo``.

1. Starts the stack: Firestore and Pub/Sub emulators, fake-gcs-server,
   SecantusDB, the Secret Manager / Firestore Admin / Cloud Run stand-ins, an
   SMTP server and a webhook receiver; serves the six functions behind Pub/Sub
   push subscriptions; defines the MongoDB Cloud Run job.
2. Seeds data shaped like the platform (Firestore users/products/sessions,
   the three buckets with the critical files, MongoDB ``eyewear_ml``).
3. Fires the scheduled backups by publishing the scheduler's messages.
4. Requests test-mode restores by publishing to ``dr-restore`` with gcloud.
5. Prints what was backed up, restored and verified, with sizes and timings.

``--keep-running`` leaves the stack up afterwards (Ctrl-C stops it) with
``.devstack/env.sh`` written, so ``eval "$(python3 -m tests.devstack env)"``
points a shell's gcloud at it, against real backups.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from shared.console.output import counts, size
from shared.console.records import backup_of
from shared.manifest import data_size
from tests import eyewear
from tests.devstack import envfile
from tests.polling import wait_until

T = TypeVar("T")
WIDTH = 120  # the report fits a 120-column terminal


class Report:
    """Timed steps and tables, printed as the demo goes."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def timed(self, what: str, step: Callable[[], T]) -> T:
        began = time.monotonic()
        print(f"… {what}", flush=True)
        result = step()
        print(f"  done in {time.monotonic() - began:.1f} s", flush=True)
        return result

    @staticmethod
    def table(title: str, header: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
        """A table that fits 120 columns: long cells (counts) fold, they are never cut."""
        from rich.console import Console

        from shared.console.output import table

        print()
        Console(width=WIDTH, highlight=False).print(table(title, header, rows), crop=False)


def seed(report: Report, platform: eyewear.Platform, scale: int) -> None:
    firestore = report.timed(
        "seeding Firestore", lambda: eyewear.seed_firestore(platform.stack.project)
    )
    buckets = report.timed("seeding Cloud Storage", lambda: eyewear.seed_buckets(40 * scale))
    mongo = report.timed(
        "seeding MongoDB eyewear_ml",
        lambda: eyewear.seed_mongo(platform.stack.mongo.uri(), 1000 * scale),
    )
    report.table(
        "Seeded",
        ("source", "content"),
        [
            ("Firestore (default)", counts(dict(firestore))),
            ("Cloud Storage", ", ".join(f"{name}: {n} objects" for name, n in buckets.items())),
            ("MongoDB eyewear_ml", f"{len(mongo)} collections, {sum(mongo.values())} documents"),
        ],
    )


def backups(report: Report, platform: eyewear.Platform) -> None:
    rows: list[tuple[str, ...]] = []
    manifests: list[Any] = []
    for target, tier in (("gcs", "daily"), ("firestore", "daily"), ("mongodb", "daily")):
        began = time.monotonic()
        entry = report.timed(
            f"{target} {tier} backup (published to its scheduler topic)",
            functools.partial(platform.backup, target, tier),
        )
        manifest = entry.manifest
        manifests.append(entry)
        rows.append((
            target, tier, entry.backup_id, manifest.status, size(data_size(manifest)),
            counts(dict(manifest.counts)), f"{time.monotonic() - began:.1f} s",
        ))  # fmt: skip
    report.table(
        "Backups (fired by publishing the scheduler's messages)",
        ("target", "tier", "run id", "status", "size", "counts", "took"),
        rows,
    )
    for entry in manifests:
        print(f"  gs://{eyewear.BACKUP_BUCKET}/{entry.location.manifest_path}")


RESTORES = (
    {"target": "gcs", "source_bucket": "eyewearml-models", "test_mode": True},
    {"target": "firestore", "date": "TODAY", "test_mode": True},
    {"target": "mongodb", "date": "TODAY", "type": "daily", "test_mode": True},
)


def restores(report: Report, platform: eyewear.Platform) -> bool:
    today = time.strftime("%Y-%m-%d", time.gmtime())
    rows: list[tuple[Any, ...]] = []
    all_verified = True
    for template in RESTORES:
        body = {k: today if v == "TODAY" else v for k, v in template.items()}
        status = report.timed(
            f"{body['target']} test restore (gcloud pubsub topics publish dr-restore)",
            functools.partial(platform.restore, body),
        )
        result = status.get("result") or {}
        verified = status["phase"] == "Completed" and result.get("verified") is True
        all_verified &= verified
        rows.append((
            status["request_id"], body["target"],
            status["phase"] + ("" if result.get("verified") else ", NOT verified"),
            backup_of(status), result.get("destination"), counts(dict(result.get("counts") or {})),
            _took(status),
        ))  # fmt: skip
    report.table(
        "Restores (test mode: scratch copy, verified against the manifest, then deleted)",
        ("request", "target", "phase", "backup", "restored to", "counts", "took"),
        rows,
    )
    return all_verified


def _took(status: dict[str, Any]) -> str:
    from datetime import datetime

    ended = status.get("finished")
    if not ended:
        return "-"
    seconds = (
        datetime.fromisoformat(ended) - datetime.fromisoformat(status["created"])
    ).total_seconds()
    return f"{seconds:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--keep-running", action="store_true", help="leave the stack up afterwards")
    parser.add_argument("--scale", type=int, default=1, help="multiply the seeded data")
    args = parser.parse_args(argv)
    report = Report()
    print("EyewearML disaster recovery: local demo\n")
    run_dir = envfile.STATE_DIR / "demo"  # logs of every server, function and job run
    shutil.rmtree(run_dir, ignore_errors=True)
    with contextlib.ExitStack() as cleanup:
        platform = report.timed(
            "starting the local stack and deploying the functions",
            lambda: cleanup.enter_context(eyewear.deployed_platform(run_dir)),
        )
        smtp_received, webhook_received = platform.received_mail, platform.webhook.received
        timings = platform.stack.timings()
        print(f"  {len(timings)} servers and functions: " + ", ".join(sorted(timings)))
        seed(report, platform, args.scale)
        backups(report, platform)
        verified = restores(report, platform)
        runs = 3 + len(RESTORES)  # the last reports may still be on their way
        with contextlib.suppress(AssertionError):
            wait_until(lambda: min(len(smtp_received), len(webhook_received)) >= runs, 10.0)
        report.table(
            "Notifications (one per run)",
            ("channel", "received"),
            [
                ("email to devops@example.com (SMTP)", str(len(smtp_received))),
                ("Slack-shaped webhook", str(len(webhook_received))),
            ],
        )
        total = time.monotonic() - report.started
        print(
            f"\n{'All restores verified' if verified else 'SOME RESTORES FAILED'}; total {total:.1f} s"
        )
        if args.keep_running:
            env = {**platform.stack.env(), **platform.settings, **platform.gcloud_env}
            envfile.write(envfile.STATE_DIR, env)
            cleanup.callback(envfile.remove, envfile.STATE_DIR)
            print('\nThe stack is up. In another shell:\n  eval "$(python3 -m tests.devstack env)"')
            print("  (gcloud and the client libraries then use it; `dr` finds it by itself)")
            print("  dr info")
            print(
                "  gcloud pubsub topics publish dr-restore --message "
                '\'{"target": "gcs", "source_bucket": "eyewearml-assets", "test_mode": true}\''
            )
            print("Ctrl-C stops everything.", flush=True)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.default_int_handler)  # each ends the wait below
            with contextlib.suppress(KeyboardInterrupt):
                while not platform.stack.exited():
                    time.sleep(1)
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
