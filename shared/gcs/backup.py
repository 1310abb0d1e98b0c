"""A whole backup run in this process: the library, CLI and benchmark entry point.

The deployed path starts the same run from :func:`shared.gcs.handlers.on_backup_message`
with shards published to Pub/Sub instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from shared.config import GcsSettings
from shared.errors import BackupFailed
from shared.gcs.context import GcsContext, utc_now
from shared.gcs.lister import start_backup
from shared.gcs.sinks import InProcessSink
from shared.manifest import Manifest
from shared.reporting import ReportSink

if TYPE_CHECKING:
    from google.cloud.storage import Client


def run_backup(
    settings: GcsSettings,
    *,
    tier: str = "daily",
    new_client: Callable[[], Client] | None = None,
    clock: Callable[[], datetime] = utc_now,
    notifier: ReportSink | None = None,
) -> Manifest:
    """Back up every source bucket; returns the committed manifest (check ``.ok``).

    A failed run still returns its FAILED manifest (already logged at ERROR
    and reported); the caller decides what that means for its exit code.
    """
    with GcsContext(settings, new_client=new_client, clock=clock, notifier=notifier) as ctx:
        manifest = start_backup(ctx, tier=tier, sink=InProcessSink(ctx))
    if manifest is None:  # every shard ran here, so only a lost result can cause this
        raise BackupFailed("the backup ran every shard but did not complete; see the log")
    return manifest
