"""Cold start: loading a function's module imports no client library; that waits for a call."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.devstack.process import REPO_ROOT

HEAVY = ("google.cloud.storage", "google.cloud.firestore", "google.cloud.run_v2", "pymongo",
         "google.cloud.pubsub_v1", "google.cloud.secretmanager", "zstandard", "cryptography")  # fmt: skip
PROBE = """
import json, sys
sys.path[:0] = [{repo!r}, {repo!r} + "/functions"]
import main
import {module}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


@pytest.mark.parametrize(
    "module",
    [
        "shared.gcs.handlers",
        "shared.mongodb.handlers",
        "shared.firestore.handlers",
        "shared.registry",
    ],
)
def test_loading_a_function_imports_no_client_library(module: str) -> None:
    probe = PROBE.format(repo=str(REPO_ROOT), module=module, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []
