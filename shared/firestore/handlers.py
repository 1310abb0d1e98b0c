"""Pub/Sub handlers of the Firestore functions: read the settings now, make one library call."""

from __future__ import annotations

from datetime import UTC, datetime

from shared import clients, config
from shared.events import PubSubMessage, backup_trigger, trigger_run_id
from shared.firestore import jobs
from shared.manifest import TIERS
from shared.restore.status import StatusStore


def on_backup_message(message: PubSubMessage) -> None:
    """``dr-firestore-backup``: ``{"tier": "daily"}``; starts the export and returns."""
    trigger = backup_trigger(message, TIERS)
    settings = config.firestore_settings(config.sources(secrets=clients.secret_access()))
    bucket = clients.storage_client(settings.project_id).bucket(settings.bucket)
    jobs.run_backup(
        settings,
        trigger.tier,
        bucket=bucket,
        client=clients.firestore_admin_client(),
        now=datetime.now(UTC),
        dry_run=trigger.dry_run,
        run_id=trigger_run_id(message, datetime.now(UTC)),
    )


def on_complete_message(message: PubSubMessage) -> None:
    """``dr-firestore-complete``: finish ended exports and carry restore imports on."""
    message.json()  # any JSON object (the scheduler sends {}); malformed bodies are refused
    src = config.sources(secrets=clients.secret_access())
    settings = config.firestore_settings(src)
    storage = clients.storage_client(settings.project_id)
    state_bucket = src.require(config.DR_STATE_BUCKET) if src.raw("DR_STATE_BUCKET") else None
    jobs.run_completion(
        settings,
        bucket=storage.bucket(settings.bucket),
        store=StatusStore(storage.bucket(state_bucket)) if state_bucket else None,
        client=clients.firestore_admin_client(),
        now=datetime.now(UTC),
    )
