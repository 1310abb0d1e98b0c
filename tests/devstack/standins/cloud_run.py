"""Cloud Run Admin API v2 stand-in: jobs whose executions are local processes.

Run as ``python -m tests.devstack.standins.cloud_run --port P --jobs FILE
[--log-dir DIR]``. The official ``run_v2.JobsClient``/``ExecutionsClient``
(REST transport, anonymous credentials) pointed at it with
``DR_CLOUD_RUN_ENDPOINT`` cannot tell it from Google for what the product uses:

* ``POST /v2/{job}:run`` starts the job's container command as a local process,
  in its own process group, with the job's environment plus the request's
  ``overrides.containerOverrides[0]`` (``env``, ``args``) and the variables
  Cloud Run sets (``CLOUD_RUN_JOB``, ``CLOUD_RUN_EXECUTION``,
  ``CLOUD_RUN_TASK_INDEX``, ``CLOUD_RUN_TASK_ATTEMPT``, ``CLOUD_RUN_TASK_COUNT``);
  it answers a running operation whose metadata is the new ``Execution``. The
  operation ends when the process does (its response is the final Execution).
* ``GET /v2/{job}/executions/{id}`` and ``.../executions`` show each execution:
  ``runningCount``, then ``succeededCount`` 1 (exit status 0) or ``failedCount``
  1 (anything else, with the exit status in the ``Completed`` condition's
  message), ``completionTime``, and ``logUri`` (the local log file).
* ``POST /v2/{execution}:cancel`` kills the process group (``cancelledCount``).
* ``GET /v2/{job}`` describes a job; operations: get, list, cancel, delete.

Stopping the stand-in (SIGTERM) kills every running execution's group.

The jobs file is JSON, read again on every run request so a test can change a
job's environment between runs::

    {"projects/P/locations/L/jobs/J": {"command": ["python", "-m", "..."],
                                        "env": {"KEY": "value"}, "cwd": "/repo"}}

The process's environment is the job's ``env`` (with ``PATH``, and
``PYTHONPATH`` when the job does not set it, taken from the stand-in's own),
as a container's would be: nothing else leaks in. Not modelled: task
parallelism and retries (one task, one attempt), timeouts, job creation over
the API (the jobs file plays Terraform's part).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

from tests.devstack.standins.httpbase import ApiError, OperationStore, Request, Router, main

_TYPE = "type.googleapis.com/google.cloud.run.v2.Execution"
_JOB = r"(?P<job>projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/jobs/(?P<id>[^/:]+))"
_EXECUTION = _JOB + r"/executions/(?P<execution>[^/:]+)"
_INHERITED = ("PATH", "PYTHONPATH", "LANG", "TMPDIR", "HOME")


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class _Execution:
    def __init__(self, name: str, job: str, log_path: Path) -> None:
        self.name = name
        self.job = job
        self.log_path = log_path
        self.uid = str(uuid.uuid4())
        self.created = _stamp()
        self.completed: str | None = None
        self.exit_code: int | None = None
        self.cancelled = False
        self.process: subprocess.Popen[bytes] | None = None
        self.operation = ""

    def resource(self) -> dict[str, Any]:
        running = self.exit_code is None and not self.cancelled
        succeeded = self.exit_code == 0 and not self.cancelled
        failed = self.exit_code not in (None, 0) and not self.cancelled
        if running:
            state, message = "CONDITION_PENDING", "Execution is running."
        elif succeeded:
            state, message = "CONDITION_SUCCEEDED", "Execution completed successfully."
        elif self.cancelled:
            state, message = "CONDITION_FAILED", "The execution was cancelled."
        else:
            state = "CONDITION_FAILED"
            message = (
                f"Task {self.name.rsplit('/', 1)[1]}-task0 failed with exit code {self.exit_code}."
            )
        resource: dict[str, Any] = {
            "@type": _TYPE,
            "name": self.name,
            "uid": self.uid,
            "job": self.job.rsplit("/", 1)[1],
            "createTime": self.created,
            "startTime": self.created,
            "taskCount": 1,
            "parallelism": 1,
            "runningCount": int(running),
            "succeededCount": int(succeeded),
            "failedCount": int(failed),
            "cancelledCount": int(self.cancelled),
            "reconciling": running,
            "logUri": self.log_path.as_uri(),
            "conditions": [{"type": "Completed", "state": state, "message": message,
                            "lastTransitionTime": self.completed or self.created}],
        }  # fmt: skip
        if self.completed:
            resource["completionTime"] = self.completed
        return resource


class Executions:
    """The executions of every job: started, watched, listed, cancelled, killed at exit."""

    def __init__(self, jobs_file: Path, log_dir: Path, operations: OperationStore) -> None:
        self._jobs_file = jobs_file
        self._log_dir = log_dir
        self._operations = operations
        self._lock = threading.Lock()
        self._executions: dict[str, _Execution] = {}
        self._ids = itertools.count(1)

    def _job(self, name: str) -> dict[str, Any]:
        jobs = json.loads(self._jobs_file.read_text()) if self._jobs_file.exists() else {}
        if name not in jobs:
            _, project, _, region, _, job_id = name.split("/")
            raise ApiError(
                404,
                f"Resource '{job_id}' of kind 'JOB' in region '{region}' "
                f"in project '{project}' does not exist.",
            )
        job: dict[str, Any] = jobs[name]
        return job

    def describe_job(self, name: str) -> dict[str, Any]:
        job = self._job(name)
        container = {"command": job["command"][:1], "args": job["command"][1:]}
        container["env"] = [{"name": k, "value": v} for k, v in job.get("env", {}).items()]
        return {"name": name, "template": {"taskCount": 1, "template": {"containers": [container]}}}

    def run(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        job = self._job(name)
        overrides = (body.get("overrides") or {}).get("containerOverrides") or [{}]
        extra = {e["name"]: e.get("value", "") for e in overrides[0].get("env", [])}
        args = overrides[0].get("args") or []
        with self._lock:
            execution_id = f"{name.rsplit('/', 1)[1]}-{next(self._ids):05d}"
        execution = _Execution(
            f"{name}/executions/{execution_id}", name, self._log_dir / f"{execution_id}.log"
        )
        env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
        env.update({str(k): str(v) for k, v in job.get("env", {}).items()})
        env.update(extra)
        env.update({"CLOUD_RUN_JOB": name.rsplit("/", 1)[1], "CLOUD_RUN_EXECUTION": execution_id,
                    "CLOUD_RUN_TASK_INDEX": "0", "CLOUD_RUN_TASK_ATTEMPT": "0",
                    "CLOUD_RUN_TASK_COUNT": "1"})  # fmt: skip
        command = [*job["command"], *args] if args else list(job["command"])
        self._log_dir.mkdir(parents=True, exist_ok=True)
        parent = name.rsplit("/jobs/", 1)[0]
        operation = self._operations.create(parent, execution.resource())
        execution.operation = operation["name"]
        with execution.log_path.open("ab") as log:
            execution.process = subprocess.Popen(
                command, env=env, cwd=job.get("cwd"), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        with self._lock:
            self._executions[execution.name] = execution
        threading.Thread(target=self._watch, args=(execution,), daemon=True).start()
        return self._operations.get(operation["name"])

    def _watch(self, execution: _Execution) -> None:
        assert execution.process is not None
        code = execution.process.wait()
        with self._lock:
            execution.exit_code = code
            execution.completed = _stamp()
            resource = execution.resource()
        self._operations.finish(execution.operation, response=resource, metadata=resource)

    def get(self, name: str) -> dict[str, Any]:
        with self._lock:
            if name not in self._executions:
                raise ApiError(404, f"Execution {name} not found.")
            return self._executions[name].resource()

    def list(self, job: str) -> list[dict[str, Any]]:
        with self._lock:
            found = [e for e in self._executions.values() if e.job == job]
            return [e.resource() for e in reversed(found)]

    def cancel(self, name: str) -> dict[str, Any]:
        with self._lock:
            if name not in self._executions:
                raise ApiError(404, f"Execution {name} not found.")
            execution = self._executions[name]
            if execution.exit_code is None:
                execution.cancelled = True
                _kill_group(execution.process)
            resource = execution.resource()
        parent = execution.job.rsplit("/jobs/", 1)[0]
        operation = self._operations.create(parent, resource)
        self._operations.finish(operation["name"], response=resource)
        return self._operations.get(operation["name"])

    def kill_all(self) -> None:
        with self._lock:
            running = [e for e in self._executions.values() if e.exit_code is None]
        for execution in running:
            _kill_group(execution.process)


def _kill_group(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def build_router(executions: Executions, operations: OperationStore) -> Router:
    router = Router()

    def run(r: Request) -> tuple[int, Any]:
        return 200, executions.run(r.params["job"], r.body or {})

    def listing(r: Request) -> tuple[int, Any]:
        return 200, {"executions": executions.list(r.params["job"])}

    router.add("POST", f"/v2/{_JOB}:run", run)
    router.add("GET", f"/v2/{_JOB}", lambda r: (200, executions.describe_job(r.params["job"])))
    router.add("GET", f"/v2/{_JOB}/executions", listing)
    router.add("GET", f"/v2/{_EXECUTION}", lambda r: (200, executions.get(r.path[4:])))
    router.add("POST", f"/v2/{_EXECUTION}:cancel", lambda r: (200, executions.cancel(r.path[4:-7])))
    operations.add_routes(router)
    return router


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=Path, required=True, help="JSON file of jobs (see above)")
    parser.add_argument("--log-dir", type=Path, default=Path("cloud-run-executions"))


def _build(args: argparse.Namespace) -> Router:
    operations = OperationStore()
    executions = Executions(args.jobs, args.log_dir, operations)
    atexit.register(executions.kill_all)
    return build_router(executions, operations)


if __name__ == "__main__":
    raise SystemExit(main("cloud_run", _build, _configure))
