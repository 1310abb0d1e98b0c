"""A whole backup run in this process: the library, CLI and benchmark entry point.

The same :class:`~shared.gcs.target.GcsBackupTarget` as the deployed path
(:func:`shared.gcs.handlers.on_backup_message`), with shards run on threads
here instead of published to Pub/Sub.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.clock import Clock, utc_now
from shared.config import GcsSettings
from shared.errors import BackupFailed
from shared.gcs.context import GcsContext
from shared.gcs.run import TARGET
from shared.gcs.sinks import InProcessSink
from shared.gcs.target import GcsBackupTarget
from shared.manifest import Manifest, RunLocation, new_run_id
from shared.reporting import ReportSink

if TYPE_CHECKING:
    from google.cloud.storage import Client


def run_backup(
    settings: GcsSettings,
    *,
    tier: str = "daily",
    new_client: Callable[[], Client] | None = None,
    clock: Clock = utc_now,
    notifier: ReportSink | None = None,
) -> Manifest:
    """Back up every source bucket; returns the committed manifest (check ``.ok``).

    A failed run still returns its FAILED manifest (already logged at ERROR
    and reported); the caller decides what that means for its exit code.
    """
    with GcsContext(settings, new_client=new_client, clock=clock, notifier=notifier) as ctx:
        location = RunLocation("", TARGET, tier, new_run_id(ctx.clock()))
        manifest = GcsBackupTarget(ctx, lambda: InProcessSink(ctx)).start(location)
    if manifest is None:  # every shard ran here, so only a lost result can cause this
        raise BackupFailed("the backup ran every shard but did not complete; see the log")
    return manifest
