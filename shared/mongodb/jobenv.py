"""The names of the MongoDB job's per-execution environment: what one execution is to do.

These are not settings (those come from :func:`shared.config.mongodb_settings`):
the trigger function and the restore dispatcher set them as overrides when
they start an execution (:mod:`.executions`), and the job reads them when it
runs without arguments (:mod:`.job`). Cloud Run sets ``CLOUD_RUN_TASK_ATTEMPT``
itself: above 0, the execution is a retry, and a retried backup is a new run.
"""

from __future__ import annotations

COMMAND = "DR_JOB_COMMAND"
TIER = "DR_TIER"
RUN_ID = "DR_RUN_ID"
DRY_RUN = "DR_DRY_RUN"
RESTORE_REQUEST = "DR_RESTORE_REQUEST"
REQUEST_ID = "DR_REQUEST_ID"
TASK_ATTEMPT = "CLOUD_RUN_TASK_ATTEMPT"
