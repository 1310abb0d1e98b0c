"""The MongoDB job's execution environment and which job to start.

``DR_MONGODB_JOB`` (:data:`shared.config.DR_MONGODB_JOB`) names the Cloud Run
job the trigger function and the restore dispatcher start; each execution's
overrides say what it does (the variables below). The job itself reads
:func:`shared.config.mongodb_settings`.
"""

from __future__ import annotations

from shared import config
from shared.settings_source import Sources

# The job's environment, set per execution by the trigger function and the dispatcher.
COMMAND = "DR_JOB_COMMAND"
TIER = "DR_TIER"
RUN_ID = "DR_RUN_ID"
DRY_RUN = "DR_DRY_RUN"
RESTORE_REQUEST = "DR_RESTORE_REQUEST"
REQUEST_ID = "DR_REQUEST_ID"


def job_name(src: Sources) -> str:
    return src.require(config.DR_MONGODB_JOB)
