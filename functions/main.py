"""Cloud Functions entry points: one per function, each a Pub/Sub-triggered CloudEvent handler.

Deliberately thin: parse nothing here, decide nothing here. Each handler hands
the event to :func:`shared.events.serve` with the target's handler, imported
inside the function so that a cold start loads only what that function needs.
"""

from __future__ import annotations

from typing import Any

import functions_framework

from shared.events import serve


@functions_framework.cloud_event
def gcs_backup(cloud_event: Any) -> None:
    """dr-gcs-backup: list the source buckets and fan the copy out in shards."""
    from shared.gcs import handlers

    serve(cloud_event, "gcs", handlers.on_backup_message)


@functions_framework.cloud_event
def gcs_copy_shard(cloud_event: Any) -> None:
    """dr-gcs-shards: list the next step of a bucket, or copy one shard; the last ends the run."""
    from shared.gcs import handlers

    serve(cloud_event, "gcs", handlers.on_shard_message)


@functions_framework.cloud_event
def mongodb_backup(cloud_event: Any) -> None:
    """dr-mongodb-backup: start an execution of the MongoDB backup Cloud Run job."""
    from shared.mongodb import handlers

    serve(cloud_event, "mongodb", handlers.on_backup_message)


@functions_framework.cloud_event
def firestore_backup(cloud_event: Any) -> None:
    """dr-firestore-backup: start a managed export and record it as pending."""
    from shared.firestore import handlers

    serve(cloud_event, "firestore", handlers.on_backup_message)


@functions_framework.cloud_event
def firestore_complete(cloud_event: Any) -> None:
    """dr-firestore-complete: complete finished exports and imports (scheduled check)."""
    from shared.firestore import handlers

    serve(cloud_event, "firestore", handlers.on_complete_message)


@functions_framework.cloud_event
def dr_restore(cloud_event: Any) -> None:
    """dr-restore: validate a restore request and hand it to the target's restore."""
    from shared import registry

    serve(cloud_event, "restore", registry.on_restore_message)


@functions_framework.cloud_event
def dr_freshness(cloud_event: Any) -> None:
    """dr-freshness: the missed-backup check (one notification per incident)."""
    from shared import watchdog

    serve(cloud_event, "freshness", watchdog.on_check_message)


@functions_framework.cloud_event
def dr_drill(cloud_event: Any) -> None:
    """dr-drill: start a scheduled recovery drill, or advance the open ones."""
    from shared.drill import handlers

    serve(cloud_event, "drill", handlers.on_drill_message)
