"""``dr import`` and ``dr compare``: the cut-over from the old shell scripts.

Standalone click commands, registered in the ``dr`` group. Settings come as
everywhere else (``--config`` file in the old ``KEY="value"`` format, then
the environment): the backup buckets, ``MONGODB_BACKUP_DIR`` as the MongoDB
catalog's prefix, and ``ENCRYPTION_KEY_FILE`` for the old scripts'
``openssl enc`` passphrase. Errors print one line naming the file and the
reason, and exit with the error's sysexits code; nothing is registered then.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from shared.clock import utc_now
from shared.errors import DRError
from shared.manifest import TARGETS, TIERS, Manifest


def _fail(exc: DRError) -> None:
    click.echo(f"error: {exc}", err=True)
    raise SystemExit(exc.exit_code)


def _settings(config_file: str | None) -> Any:
    from shared import clients, config

    return config.console_settings(
        config.sources(config_file=config_file, secrets=clients.secret_access())
    )


def _bucket(location: Any) -> Any:
    from shared import clients

    return clients.storage_client().bucket(location.bucket)


@click.command("import")
@click.argument("target", type=click.Choice(TARGETS))
@click.argument("source")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="when it was taken")
@click.option("--hour", type=click.IntRange(0, 23), help="hour of the day (UTC)")
@click.option("--type", "tier", type=click.Choice(TIERS), default="daily", show_default=True)
@click.option("--key-file", multiple=True, help="the old ENCRYPTION_KEY_FILE (repeatable)")
@click.option("--source-bucket", help="gcs: the bucket the copies were made from")
@click.option("--config", "config_file", help='a .conf file in the old KEY="value" format')
def import_command(
    target: str,
    source: str,
    day: datetime | None,
    hour: int | None,
    tier: str,
    key_file: tuple[str, ...],
    source_bucket: str | None,
    config_file: str | None,
) -> None:
    """Register a backup the old scripts made, so that dr-restore restores it.

    SOURCE is a mongodump archive or dump directory (file, .tar, .tar.gz,
    optionally openssl-encrypted) for mongodb; the folder of a gcloud
    firestore export (gs://...) for firestore; the folder gsutil rsync copied
    a bucket into (gs://...) for gcs. The original is left untouched.
    """
    try:
        manifest = _import(target, source, day, hour, tier, key_file, source_bucket, config_file)
    except DRError as exc:
        _fail(exc)
        return
    _report(manifest)


def _import(
    target: str,
    source: str,
    day: datetime | None,
    hour: int | None,
    tier: str,
    key_files: tuple[str, ...],
    source_bucket: str | None,
    config_file: str | None,
) -> Manifest:
    from shared import clients
    from shared.errors import RequestError
    from shared.legacy import dated

    settings = _settings(config_file)
    when = dated.backup_time(source, day.date() if day else None, hour)
    now = utc_now()
    location = settings.location(target)
    bucket = _bucket(location)
    if target == "mongodb":
        from shared.legacy import mongo

        files = mongo.passphrase_files(key_files, settings.encryption.key_files)
        return mongo.import_dump(
            bucket, location.prefix, Path(source), tier=tier, when=when, key_files=files, now=now
        )
    if target == "firestore":
        from shared.legacy import firestore

        return firestore.import_export(
            clients.storage_client(),
            bucket,
            source,
            database=settings.firestore_database,
            tier=tier,
            when=when,
            now=now,
        )
    if not source_bucket:
        raise RequestError("gcs imports need --source-bucket: the bucket the copies were made from")
    from shared.legacy import gcs

    return gcs.import_copies(bucket, source, source_bucket, tier=tier, when=when, now=now)


def _report(manifest: Manifest) -> None:
    location = manifest.location
    imported = manifest.details.get("imported") or {}
    counts = ", ".join(f"{k}={v}" for k, v in sorted(manifest.counts.items()))
    what = imported.get("described_as") or imported.get("format")
    click.echo(
        f"imported {imported.get('original')} ({what})\n"
        f"  as {location.target}/{location.tier}/{location.slot}/{location.run_id}\n"
        f"  {counts}"
    )
    request: dict[str, Any] = {"target": location.target, "test_mode": True}
    if location.target == "gcs":
        request["source_bucket"] = next(iter(manifest.source.get("buckets") or [""]))
        request["version_date"] = location.started.date().isoformat()
    else:
        request.update(date=location.started.date().isoformat(), type=location.tier)
        if location.tier == "hourly":
            request["hour"] = location.started.hour
    click.echo(
        "  check it with a test restore:\n"
        f"  gcloud pubsub topics publish dr-restore --message '{json.dumps(request)}'"
    )


@click.command("compare")
@click.argument("target", type=click.Choice(TARGETS))
@click.option(
    "--old", "old", required=True, help="where the old scripts kept backups (dir or gs://)"
)
@click.option("--days", type=click.IntRange(1), default=30, show_default=True)
@click.option("--config", "config_file", help='a .conf file in the old KEY="value" format')
def compare_command(target: str, old: str, days: int, config_file: str | None) -> None:
    """Old and new backups of TARGET side by side by date, newest first."""
    from rich.console import Console
    from rich.table import Table

    from shared import clients
    from shared.catalog import Catalog
    from shared.legacy import compare

    try:
        location = _settings(config_file).location(target)
        bucket, prefix = _bucket(location), location.prefix
        client = clients.storage_client() if old.startswith("gs://") else None
        table_rows = compare.rows(
            compare.list_old(old, client), Catalog(bucket, target, prefix).entries()
        )
    except DRError as exc:
        _fail(exc)
        return
    table = Table(title=f"{target}: old ({old}) and new (gs://{bucket.name}/{prefix}{target}/)")
    for column in ("date", "old files", "old size", "new runs", ""):
        table.add_column(column)
    for row in table_rows[:days]:
        table.add_row(
            row.day.isoformat(),
            str(row.old_files or "-"),
            f"{row.old_bytes:,d} B" if row.old_files else "-",
            ", ".join(row.new) or "-",
            row.verdict,
        )
    Console(width=140).print(table)
    missing = [r.day.isoformat() for r in table_rows[:days] if r.old_files and not r.new_ok]
    if missing:
        click.echo(f"days with an old backup but no good new one: {', '.join(missing)}")
