"""The operator CLI: the old scripts' flags, as restore requests, status and catalog views.

``python -m shared.cli restore mongodb --date 2025-03-25 --type daily --test-mode``
builds exactly the JSON a ``gcloud pubsub topics publish dr-restore`` would
carry, validates it with the same schema the dispatcher uses (so a typo fails
here, not in the cloud), and publishes it; ``--print`` shows the message and
the equivalent ``gcloud`` command instead, ``--wait`` follows the status record
to the end. ``status`` reads a request's record (phases, errors, the RTO);
``backups`` lists the catalog; ``backup`` publishes a backup message for a
manual run (the ``manual`` tier unless ``--type`` names a scheduled one).
``--config`` takes the old ``.conf`` files.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shared import config
from shared.errors import DRError, RequestError
from shared.manifest import MANUAL_TIER, TIERS
from shared.restore import schema
from shared.restore.ending import exit_code_for
from shared.settings_source import CONFIG_FILE_VARIABLE

TOPICS = {
    "restore": "dr-restore",
    "mongodb": "dr-mongodb-backup",
    "firestore": "dr-firestore-backup",
    "gcs": "dr-gcs-backup",
}
BACKUP_BUCKET_KEYS = {
    "mongodb": "MONGODB_GCS_BUCKET",
    "firestore": "FIRESTORE_GCS_BUCKET",
    "gcs": "GCS_BACKUP_BUCKET",
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__.split("\n\n")[0])
    top.add_argument("--config", help='a .conf file (the old scripts\' KEY="value" format)')
    top.add_argument("--project", help="Google Cloud project (default: GOOGLE_CLOUD_PROJECT)")
    commands = top.add_subparsers(dest="command", required=True)

    restore = commands.add_parser("restore", help="request a restore through dr-restore")
    targets = restore.add_subparsers(dest="target", required=True)
    mongodb = targets.add_parser("mongodb", help="mongodb_restore.sh's flags")
    mongodb.add_argument("--date", required=True, help="YYYY-MM-DD")
    mongodb.add_argument("--type", choices=TIERS)
    mongodb.add_argument("--hour", type=int)
    mongodb.add_argument("--target-db")
    mongodb.add_argument("--drop", action="store_true", help="drop collections before restoring")
    firestore = targets.add_parser("firestore", help="firestore_restore.sh's flags")
    firestore.add_argument("--date", required=True, help="YYYY-MM-DD")
    firestore.add_argument("--type", choices=("daily", "weekly", "monthly", MANUAL_TIER))
    firestore.add_argument("--target-project")
    firestore.add_argument("--target-database")
    firestore.add_argument("--collection-ids", type=lambda v: [c for c in v.split(",") if c])
    firestore.add_argument(
        "--rewrite-references", action="store_true", help="point references at the copy"
    )
    gcs = targets.add_parser("gcs", help="gcs_restore.sh's flags")
    gcs.add_argument("--source-bucket", required=True)
    gcs.add_argument("--target-bucket")
    gcs.add_argument("--version-date", help="YYYY-MM-DD or a timestamp with a time zone")
    gcs.add_argument("--delete-extra", action="store_true")
    for sub in (mongodb, firestore, gcs):
        sub.add_argument("--test-mode", action="store_true")
        sub.add_argument("--dry-run", action="store_true")
        sub.add_argument("--confirm", help="the production name a real overwrite must repeat")
        sub.add_argument("--request-id")
        sub.add_argument(
            "--print", action="store_true", help="print the message and gcloud command"
        )
        sub.add_argument("--wait", action="store_true", help="follow the status record to the end")

    status = commands.add_parser("status", help="show a restore request's status record")
    status.add_argument("request_id")

    backups = commands.add_parser("backups", help="list a target's backups")
    backups.add_argument("target", choices=("mongodb", "firestore", "gcs"))
    backups.add_argument("--type", choices=TIERS)
    backups.add_argument("--all", action="store_true", help="include failed and incomplete runs")

    backup = commands.add_parser("backup", help="publish a backup message for a manual backup")
    backup.add_argument("target", choices=("mongodb", "firestore", "gcs"))
    backup.add_argument(
        "--type",
        default=MANUAL_TIER,
        choices=TIERS,
        help="manual (default: kept by DR_RETENTION_MANUAL, never in a scheduled tier's place)",
    )
    return top


def restore_request(args: argparse.Namespace) -> dict[str, Any]:
    """The dr-restore JSON for parsed flags (only the flags given), validated."""
    fields = {
        "date": getattr(args, "date", None),
        "type": getattr(args, "type", None),
        "hour": getattr(args, "hour", None),
        "target_db": getattr(args, "target_db", None),
        "drop": getattr(args, "drop", False) or None,
        "target_project": getattr(args, "target_project", None),
        "target_database": getattr(args, "target_database", None),
        "collection_ids": getattr(args, "collection_ids", None),
        "rewrite_references": getattr(args, "rewrite_references", False) or None,
        "source_bucket": getattr(args, "source_bucket", None),
        "target_bucket": getattr(args, "target_bucket", None),
        "version_date": getattr(args, "version_date", None),
        "delete_extra": getattr(args, "delete_extra", False) or None,
        "test_mode": args.test_mode or None,
        "dry_run": args.dry_run or None,
        "confirm": args.confirm,
        "request_id": args.request_id,
    }
    body = {"target": args.target, **{k: v for k, v in fields.items() if v is not None}}
    schema.validate(body)
    return body


def publish(project: str, topic: str, body: dict[str, Any]) -> str:
    from shared.clients import publisher_client

    publisher = publisher_client()
    data = json.dumps(body).encode("utf-8")
    return str(publisher.publish(publisher.topic_path(project, topic), data).result(timeout=60))


def _project(args: argparse.Namespace) -> str:
    project = (
        args.project
        or os.environ.get("GOOGLE_CLOUD_PROJECT")
        or os.environ.get("CLOUDSDK_CORE_PROJECT")
    )
    if not project:
        raise RequestError("no project: pass --project or set GOOGLE_CLOUD_PROJECT")
    return project


def _state_store(args: argparse.Namespace) -> Any:
    from shared.clients import storage_client
    from shared.restore.status import StatusStore

    settings = config.restore_settings(config.sources(config_file=args.config))
    return StatusStore(storage_client(args.project).bucket(settings.state_bucket))


def cmd_restore(args: argparse.Namespace) -> int:
    body = restore_request(args)
    if args.print:
        message = json.dumps(body)
        print(message)
        print(f"gcloud pubsub topics publish {TOPICS['restore']} --message {shlex.quote(message)}")
        return 0
    message_id = publish(_project(args), TOPICS["restore"], body)
    request_id = body.get("request_id") or f"msg-{message_id}"
    print(f"published restore request {request_id} (message {message_id})")
    if not args.wait:
        print(f"follow it with: python -m shared.cli status {request_id}")
        return 0
    store = _state_store(args)
    while True:
        record = store.get(request_id)
        if record is not None and record.final:
            print(json.dumps(record.data, indent=2))
            return exit_code_for(record.data)
        time.sleep(2)


def cmd_status(args: argparse.Namespace) -> int:
    record = _state_store(args).get(args.request_id)
    if record is None:
        raise RequestError(f"no restore request {args.request_id!r} is recorded")
    print(json.dumps(record.data, indent=2))
    created = datetime.fromisoformat(record.data["created"])
    finished = record.data.get("finished")
    if finished:
        took = datetime.fromisoformat(finished) - created
        print(f"phase {record.phase}; request to end took {took}")
    else:
        print(f"phase {record.phase}; running for {datetime.now(UTC) - created}")
    if record.data.get("confirm"):
        print(f'to run it, send it again with "confirm": "{record.data["confirm"]}"')
    return exit_code_for(record.data)


def cmd_backups(args: argparse.Namespace) -> int:
    from shared.catalog import Catalog
    from shared.clients import storage_client

    src = config.sources(config_file=args.config)
    key = getattr(config, BACKUP_BUCKET_KEYS[args.target])
    bucket = storage_client(args.project).bucket(src.require(key))
    prefix = config.mongodb_prefix(src) if args.target == "mongodb" else ""
    catalog = Catalog(bucket, args.target, prefix)
    entries = catalog.entries(args.type) if args.all else catalog.backups(args.type)
    for entry in entries:
        manifest = entry.manifest
        size = f"{manifest.size:>14,d} B" if manifest else " " * 16
        counts = ", ".join(f"{k}={v}" for k, v in (manifest.counts if manifest else {}).items())
        print(f"{entry.describe():<72} {size}  {counts}")
    if not entries:
        print(f"no {args.target} backups in gs://{bucket.name}/{prefix}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    message_id = publish(_project(args), TOPICS[args.target], {"tier": args.type})
    print(f"published {args.type} backup request for {args.target} (message {message_id})")
    return 0


COMMANDS = {
    "restore": cmd_restore,
    "status": cmd_status,
    "backups": cmd_backups,
    "backup": cmd_backup,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.config:
        os.environ[CONFIG_FILE_VARIABLE] = args.config
    try:
        return COMMANDS[args.command](args)
    except DRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
