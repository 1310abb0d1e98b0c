"""The ``dr-mongodb-backup`` function's handler: a scheduler message starts one job execution.

The function does no MongoDB work and never sees ``MONGODB_URI``: it only
decides whether this tier runs (hourly only with ``ENABLE_HOURLY``) and
starts the run through :class:`shared.mongodb.target.MongoBackupTarget`,
which hands it to the Cloud Run job. The run id is derived from the Pub/Sub
message (publish time and message id), so a redelivered message names the
same run, and the job skips a run that already committed.
"""

from __future__ import annotations

import logging

from shared.events import PubSubMessage, backup_trigger, trigger_run_id
from shared.manifest import TIERS

log = logging.getLogger(__name__)


def on_backup_message(message: PubSubMessage) -> None:
    from shared.clock import utc_now
    from shared.manifest import RunLocation
    from shared.mongodb.target import MongoBackupTarget

    trigger = backup_trigger(message, TIERS)
    target = MongoBackupTarget()
    if trigger.tier == "hourly" and not target.settings.retention.enable_hourly:
        log.info("hourly MongoDB backups are off (ENABLE_HOURLY is false): nothing started")
        return
    if trigger.dry_run:
        for line in target.plan(trigger.tier):
            log.info("%s", line)
        return
    run_id = trigger_run_id(message, utc_now())
    target.start(RunLocation(target.settings.prefix, target.name, trigger.tier, run_id))
