"""The ``dr-mongodb-backup`` function's handler: a scheduler message starts one job execution.

The function does no MongoDB work and never sees ``MONGODB_URI``: it only
decides whether this tier runs (hourly only with ``ENABLE_HOURLY``) and
starts the Cloud Run job with the tier and a run id. The run id is derived
from the Pub/Sub message (publish time and message id), so a redelivered
message names the same run, and the job skips a run that already committed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from shared import config
from shared.events import PubSubMessage, backup_trigger, trigger_run_id
from shared.manifest import TIERS
from shared.mongodb import executions, settings

log = logging.getLogger(__name__)


def on_backup_message(message: PubSubMessage) -> None:
    trigger = backup_trigger(message, TIERS)
    src = config.sources()
    if trigger.tier == "hourly" and not src.get(config.ENABLE_HOURLY):
        log.info("hourly MongoDB backups are off (ENABLE_HOURLY is false): nothing started")
        return
    run_id = trigger_run_id(message, datetime.now(UTC))
    execution = executions.start_backup_execution(
        settings.job_name(src), trigger.tier, run_id, dry_run=trigger.dry_run
    )
    log.info(
        "started %s backup run %s as %s",
        trigger.tier,
        run_id,
        execution,
        extra={"fields": {"tier": trigger.tier, "run_id": run_id, "execution": execution}},
    )
