"""The ``dr-mongodb-backup`` function's handler: a scheduler message starts one job execution.

The function does no MongoDB work and never sees ``MONGODB_URI``: it only
decides whether this tier runs (hourly only with ``ENABLE_HOURLY``) and
starts the Cloud Run job with the tier and a run id. The run id is derived
from the Pub/Sub message (publish time and message id), so a redelivered
message names the same run, and the job skips a run that already committed.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from shared import config
from shared.events import PubSubMessage, backup_trigger
from shared.manifest import TIERS, new_run_id
from shared.mongodb import executions, settings

log = logging.getLogger(__name__)


def run_id_for(message: PubSubMessage, now: datetime) -> str:
    """``<publish time>-<8 hex digits of the message id's SHA-256>``: the same for a redelivery."""
    when = now
    if message.publish_time:
        try:
            when = datetime.fromisoformat(message.publish_time.replace("Z", "+00:00"))
        except ValueError:
            log.warning("unreadable publish time %r; using the current time", message.publish_time)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    token = hashlib.sha256(message.message_id.encode()).hexdigest()[:8]
    return new_run_id(when, token)


def on_backup_message(message: PubSubMessage) -> None:
    trigger = backup_trigger(message, TIERS)
    src = config.sources()
    if trigger.tier == "hourly" and not src.get(config.ENABLE_HOURLY):
        log.info("hourly MongoDB backups are off (ENABLE_HOURLY is false): nothing started")
        return
    run_id = run_id_for(message, datetime.now(UTC))
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
