"""``dr configure --from-terraform infra/environments/ENV``: store where an environment lives.

Reads ``terraform output -json`` in that directory (or a saved copy of it,
``--outputs FILE``) and stores the project, the buckets, the MongoDB job and
the key secret's name as settings under the environment's name; afterwards
``dr --env ENV ...`` uses them. Only names are stored, never a secret value.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from shared.console import environment, output
from shared.errors import ConfigError
from shared.manifest import TARGETS

# Setting => where it is in the module's outputs.
FROM_OUTPUTS = {
    "GCS_BACKUP_BUCKET": ("backup_bucket",),
    "FIRESTORE_GCS_BUCKET": ("backup_bucket",),
    "MONGODB_GCS_BUCKET": ("backup_bucket",),
    "DR_STATE_BUCKET": ("state_bucket",),
    "DR_MONGODB_JOB": ("mongodb_job",),
    "ENCRYPTION_KEY_SECRET": ("secrets", "encryption_key"),
}


def read_outputs(directory: Path, saved: Path | None) -> Mapping[str, Any]:
    """The module's outputs from ``terraform output -json`` (run in ``directory``) or a file."""
    if saved is not None:
        text = saved.read_text()
    else:
        try:
            done = subprocess.run(
                ["terraform", f"-chdir={directory}", "output", "-json"],
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
        except FileNotFoundError:
            raise ConfigError(
                "terraform is not installed here: run `terraform output -json > outputs.json` "
                "where the state is and pass --outputs outputs.json"
            ) from None
        if done.returncode != 0:
            raise ConfigError(f"terraform output in {directory} failed: {done.stderr.strip()}")
        text = done.stdout
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the Terraform outputs are not JSON: {exc}") from None
    module = (
        outputs.get("disaster_recovery", {}).get("value") if isinstance(outputs, dict) else None
    )
    if not isinstance(module, dict):
        raise ConfigError(
            "the Terraform outputs have no 'disaster_recovery' output: "
            "is this an environment directory of infra/environments?"
        )
    return module


def settings_from(module: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, path in FROM_OUTPUTS.items():
        value: Any = module
        for step in path:
            value = value.get(step) if isinstance(value, Mapping) else None
        if not isinstance(value, str) or not value:
            raise ConfigError(f"the Terraform outputs lack {'.'.join(path)} (for {key})")
        values[key] = value
    project = values["DR_MONGODB_JOB"].split("/")[1]
    values.update(
        GOOGLE_CLOUD_PROJECT=project, FIRESTORE_PROJECT_ID=project, GCS_PROJECT_ID=project
    )
    return values


@click.command("configure")
@click.option(
    "--from-terraform",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="infra/environments/ENV",
)
@click.option(
    "--outputs",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="a saved `terraform output -json` instead of running terraform",
)
@click.option("--name", help="the environment's name (default: the directory's name)")
def configure(directory: Path, outputs: Path | None, name: str | None) -> int:
    """Store an environment from Terraform's outputs, for `dr --env NAME`."""
    name = name or directory.resolve().name
    values = settings_from(read_outputs(directory, outputs))
    path = environment.save(name, values, os.environ)
    output.show(output.table(f"Environment {name} ({path})", ("setting", "value"),
                                        sorted(values.items())))  # fmt: skip
    click.echo(f"Use it with: dr --env {name} info   (targets: {', '.join(TARGETS)})")
    return 0
