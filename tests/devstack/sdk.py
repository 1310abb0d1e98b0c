"""Finding the Google Cloud CLI's emulators and Java, and pointing ``gcloud`` at a stack.

The emulators ship inside the CLI's install tree; the JVM is started
directly on their jars rather than through ``gcloud emulators ...`` or the
wrapper scripts, because killing a wrapper leaves its Java child running.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from tests.devstack.process import ComponentUnavailable

_INSTALL_CLI = (
    "install the Google Cloud CLI (Debian package google-cloud-cli) with its "
    "emulators (google-cloud-cli-firestore-emulator, google-cloud-cli-pubsub-emulator, "
    "or `gcloud components install cloud-firestore-emulator pubsub-emulator`)"
)


@functools.cache
def _sdk_root() -> Path | None:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    # The executable on PATH is usually a symlink into <root>/bin.
    root = Path(gcloud).resolve().parent.parent
    if (root / "platform").is_dir():
        return root
    try:
        answer = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    reported = Path(answer.stdout.strip())
    return reported if (reported / "platform").is_dir() else None


def sdk_file(component: str, pattern: str) -> Path:
    """The one file matching ``pattern`` under the CLI's install root, or ComponentUnavailable."""
    root = _sdk_root()
    if root is None:
        raise ComponentUnavailable(component, "the Google Cloud CLI (gcloud)", _INSTALL_CLI)
    matches = sorted(root.glob(pattern))
    if not matches:
        raise ComponentUnavailable(component, f"{root}/{pattern}", _INSTALL_CLI)
    return matches[-1]


def java(component: str) -> str:
    found = shutil.which("java")
    if found is None:
        raise ComponentUnavailable(
            component, "a Java 17+ runtime", "install it (Debian: openjdk-17-jre-headless)"
        )
    return found


def gcloud_cli_env(
    *, config_dir: Path, project: str, pubsub_url: str | None, storage_url: str | None
) -> dict[str, str]:
    """Variables under which the real ``gcloud`` CLI talks to the stack, not to Google.

    A private ``CLOUDSDK_CONFIG`` keeps the user's own gcloud login and
    properties out of it; credentials are switched off because the
    emulators accept anonymous calls.
    """
    env = {
        "CLOUDSDK_CONFIG": str(config_dir),
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_CORE_PROJECT": project,
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }
    if pubsub_url is not None:
        env["CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB"] = pubsub_url.rstrip("/") + "/"
    if storage_url is not None:
        env["CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE"] = storage_url.rstrip("/") + "/"
    return env
