"""Stand-ins for control-plane APIs as stack components: each its own Python process.

A subclass names the module under ``tests.devstack.standins`` and the
variable through which product code learns the endpoint (``DR_*_ENDPOINT``);
with that variable set, product code builds the official client with this
endpoint, the REST transport and anonymous credentials.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, ClassVar

from tests.devstack import rest
from tests.devstack.component import Component
from tests.devstack.emulators import FirestoreEmulator
from tests.devstack.process import LOCALHOST, REPO_ROOT, http_answers
from tests.devstack.storage import FakeGcsServer


class StandIn(Component):
    module: ClassVar[str]
    env_var: ClassVar[str]

    def __init__(self, workdir: Path, *, args: tuple[str, ...] = ()) -> None:
        super().__init__(workdir)
        self.args = args

    def check_installed(self) -> None:
        """Nothing to install: stand-ins are this package's own code on the standard library."""

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            f"tests.devstack.standins.{self.module}",
            "--host",
            LOCALHOST,
            "--port",
            str(self.port),
            *self.args,
        ]

    def process_env(self) -> dict[str, str]:
        path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}

    def process_cwd(self) -> Path:
        return REPO_ROOT

    def healthy(self) -> bool:
        return http_answers(self.url + "/")

    def env(self) -> dict[str, str]:
        return {self.env_var: self.url}


class SecretManagerStandIn(StandIn):
    name = "secret_manager"
    module = "secret_manager"
    env_var = "DR_SECRET_MANAGER_ENDPOINT"

    def __init__(self, workdir: Path, project: str, seed: Path | None = None) -> None:
        args = ("--project", project) + (("--seed", str(seed)) if seed else ())
        super().__init__(workdir, args=args)
        self.project = project


class FirestoreAdminStandIn(StandIn):
    name = "firestore_admin"
    module = "firestore_admin"
    env_var = "DR_FIRESTORE_ADMIN_ENDPOINT"

    def __init__(
        self,
        workdir: Path,
        emulator: FirestoreEmulator,
        storage: FakeGcsServer,
        faults: dict[str, Any] | None = None,
    ) -> None:
        """``faults`` configures the stand-in (see its module); by default the
        ``(default)`` database has point-in-time recovery on and nothing fails."""
        if faults is None:
            faults = {
                "location": "nam5",
                "pitr": [f"projects/{emulator.project}/databases/(default)"],
            }
        path = workdir / "firestore_admin_faults.json"
        workdir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(faults))
        super().__init__(
            workdir,
            args=("--emulator", emulator.host, "--storage", storage.url, "--faults", str(path)),
        )

    def release(self, database: str) -> None:
        """Let the held exports/imports of ``database`` (a full name) proceed."""
        rest.call("POST", f"{self.url}/standin/v1/{database}:release", {})


class CloudRunStandIn(StandIn):
    """The Cloud Run Admin API v2; ``define_job`` plays Terraform's part (see its module)."""

    name = "cloud_run"
    module = "cloud_run"
    env_var = "DR_CLOUD_RUN_ENDPOINT"

    def __init__(self, workdir: Path, jobs_file: Path | None = None) -> None:
        self.jobs_file = jobs_file or workdir / "cloud_run_jobs.json"
        self.log_dir = workdir / "executions"
        super().__init__(
            workdir, args=("--jobs", str(self.jobs_file), "--log-dir", str(self.log_dir))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        if not self.jobs_file.exists():
            self.jobs_file.write_text("{}")

    def define_job(
        self, name: str, command: list[str], env: dict[str, str], cwd: Path | None = None
    ) -> None:
        """Add or replace job ``name`` (``projects/P/locations/L/jobs/J``)."""
        jobs = json.loads(self.jobs_file.read_text())
        jobs[name] = {"command": command, "env": env, **({"cwd": str(cwd)} if cwd else {})}
        self.jobs_file.write_text(json.dumps(jobs))
