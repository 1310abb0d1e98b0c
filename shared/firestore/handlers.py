"""Pub/Sub handlers of the Firestore functions: read the settings now, make one library call."""

from __future__ import annotations

from shared.clock import utc_now
from shared.events import PubSubMessage, backup_trigger, trigger_run_id
from shared.firestore.target import FirestoreBackupTarget, settings
from shared.manifest import TIERS, RunLocation


def on_backup_message(message: PubSubMessage) -> None:
    """``dr-firestore-backup``: ``{"tier": "daily"}``; starts the export and returns.

    With ``"dry_run": true`` it logs the plan and writes nothing.
    """
    trigger = backup_trigger(message, TIERS)
    target = FirestoreBackupTarget.configured(settings())
    if trigger.dry_run:
        target.plan(trigger.tier)  # logs each line
        return
    run_id = trigger_run_id(message, utc_now())
    target.start(RunLocation("", target.name, trigger.tier, run_id))


def on_complete_message(message: PubSubMessage) -> None:
    """``dr-firestore-complete``: end finished exports and carry restore imports on."""
    from shared import clients
    from shared.firestore.completion import complete
    from shared.restore.status import StatusStore

    message.json()  # any JSON object (the scheduler sends {}); malformed bodies are refused
    firestore = settings()
    target = FirestoreBackupTarget.configured(firestore)
    state = firestore.state_bucket
    storage = clients.storage_client(firestore.project_id)
    complete(target, StatusStore(storage.bucket(state)) if state else None)
