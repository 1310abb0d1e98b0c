"""The ``dr`` console run as an operator runs it: a separate process, in a directory of its own.

``dr`` finds the local stack through the ``.devstack/env.sh`` of the
directory it runs in (as after ``python -m tests.devstack up``), with none of
the stack's variables in its own environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.devstack import envfile
from tests.devstack.process import REPO_ROOT


def run_dr(
    args: tuple[str, ...], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ["PATH"], "HOME": str(cwd), "PYTHONPATH": str(REPO_ROOT),
             "COLUMNS": "120", **env}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "shared.console.main", *args], cwd=cwd, env=clean,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def operator_home(home: Path, platform: Any) -> Path:
    """``home`` set up to reach ``platform``'s stack, as a developer's checkout would be."""
    envfile.write(home / ".devstack", {**platform.stack.env(), **platform.settings})
    return home
