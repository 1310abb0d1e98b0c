"""Stand-ins for control-plane APIs as stack components: each its own Python process.

A subclass names the module under ``tests.devstack.standins`` and the
variable through which product code learns the endpoint (``DR_*_ENDPOINT``);
with that variable set, product code builds the official client with this
endpoint, the REST transport and anonymous credentials.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import ClassVar

from tests.devstack.component import Component
from tests.devstack.process import LOCALHOST, REPO_ROOT, http_answers


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
