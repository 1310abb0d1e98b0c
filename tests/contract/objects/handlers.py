"""The ``objects`` target's entry points: its scheduler message handler and its registry entry.

A deployed target would have a function per handler (``functions/main.py``)
and a Cloud Scheduler job per tier publishing ``{"tier": ...}``; the tests
call the handler with the same :class:`~shared.events.PubSubMessage`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from shared.clock import Clock, utc_now
from shared.events import PubSubMessage, backup_trigger, trigger_run_id
from shared.manifest import TIERS, RunLocation
from shared.registry import registry
from shared.restore.status import StatusStore
from shared.target import BackupTarget, Registered
from tests.contract.objects import TARGET
from tests.contract.objects.request import SHAPE
from tests.contract.objects.target import ObjectsBackupTarget, ObjectsRestoreTarget, ObjectsSettings

log = logging.getLogger(__name__)


def on_backup_message(message: PubSubMessage, settings: ObjectsSettings) -> None:
    """``{"tier": "daily"}`` runs a backup to its end; ``"dry_run": true`` only logs its plan."""
    trigger = backup_trigger(message, TIERS)
    target: BackupTarget = ObjectsBackupTarget(settings)
    if trigger.dry_run:
        for line in target.plan(trigger.tier):
            log.info("would copy %s", line)
        return
    run_id = trigger_run_id(message, utc_now())
    target.start(RunLocation("", TARGET, trigger.tier, run_id))


def with_objects(
    store: StatusStore, settings: ObjectsSettings, clock: Clock = utc_now
) -> Mapping[str, Registered]:
    """The product's registry plus this target: all a new target adds to ``shared.registry``."""
    return {
        **registry(store, clock),
        TARGET: Registered(SHAPE, lambda: ObjectsRestoreTarget(settings, clock)),
    }
