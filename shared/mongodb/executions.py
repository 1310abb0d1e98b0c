"""Starting executions of the MongoDB Cloud Run job, for backups and for restores.

An execution is started with per-execution environment overrides (what to
do, the tier, the run or request id) and not waited for: a dump or a restore
outlasts any function's time limit. The execution's own logs, exit code and
(for restores) status record say how it ended.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from shared import clients
from shared.errors import ConfigError, PermissionDenied, SourceUnavailable
from shared.mongodb import jobenv
from shared.mongodb.request import MongoRestoreRequest

log = logging.getLogger(__name__)


def start_execution(job: str, env: Mapping[str, str], client: Any = None) -> str:
    """Run ``job`` with ``env`` overriding its container's environment; the execution's name."""
    from google.api_core import exceptions  # cold start: only when starting a job
    from google.cloud import run_v2

    client = client or clients.run_jobs_client()
    override = run_v2.RunJobRequest.Overrides.ContainerOverride(
        env=[run_v2.EnvVar(name=name, value=value) for name, value in env.items()]
    )
    request = run_v2.RunJobRequest(
        name=job, overrides=run_v2.RunJobRequest.Overrides(container_overrides=[override])
    )
    try:
        operation = client.run_job(request=request)
    except exceptions.NotFound:
        raise ConfigError(f"Cloud Run job {job} does not exist (DR_MONGODB_JOB)") from None
    except (exceptions.Forbidden, exceptions.Unauthorized) as exc:
        raise PermissionDenied(f"not allowed to run Cloud Run job {job}: {exc.message}") from None
    except (exceptions.ServerError, exceptions.TooManyRequests) as exc:
        raise SourceUnavailable(f"Cloud Run could not start {job}: {exc.message}") from None
    metadata = operation.metadata
    name = str(metadata.name) if metadata is not None and metadata.name else ""
    return name or str(operation.operation.name)


def start_backup_execution(job: str, tier: str, run_id: str, *, dry_run: bool = False) -> str:
    env = {jobenv.COMMAND: "backup", jobenv.TIER: tier, jobenv.RUN_ID: run_id}
    if dry_run:
        env[jobenv.DRY_RUN] = "true"
    return start_execution(job, env)


def start_restore_execution(job: str, request: MongoRestoreRequest, request_id: str) -> str:
    """Start a restore; the execution's name.

    The request travels as its ``dr-restore`` body; the job parses it back
    into the typed request, restores, and ends the request's status record
    itself (:mod:`shared.restore.lifecycle`).
    """
    env = {
        jobenv.COMMAND: "restore",
        jobenv.RESTORE_REQUEST: json.dumps(request.to_message(), sort_keys=True),
        jobenv.REQUEST_ID: request_id,
    }
    name = start_execution(job, env)
    log.info("restore %s runs as execution %s", request_id, name)
    return name
