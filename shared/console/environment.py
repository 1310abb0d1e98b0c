"""Where ``dr`` points: a named environment, the local stack, or the process environment.

Resolved once, when a command starts, into the process environment, because
the client libraries read their emulator variables (``STORAGE_EMULATOR_HOST``
and friends) from there and the settings are read through
:func:`shared.config.sources`, which reads it too:

* ``--env NAME`` loads a stored environment (written by ``dr configure``);
  its values win over the shell's, and emulator variables are removed, since
  a named environment is a real project.
* Otherwise, when a local stack is up (``.devstack/env.sh`` in the working
  directory or above, written by ``nox -s stack`` or ``python -m tests.devstack
  up``, with its owner process alive), its values fill in whatever the shell
  does not set.
* Otherwise the shell's variables (and ``--config``/``--project``) are all
  there is.

Stored environments are small JSON files under ``$XDG_CONFIG_HOME/eyewearml-dr``
(``~/.config/eyewearml-dr``): setting names and values, never a secret.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ConfigError, NotFound, RequestError

STACK_FILE = Path(".devstack") / "env.sh"
STACK_OWNER = Path(".devstack") / "stack.pid"
EMULATOR_VARIABLES = (
    "STORAGE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "FIRESTORE_EMULATOR_HOST",
    "DR_FIRESTORE_ADMIN_ENDPOINT",
    "DR_CLOUD_RUN_ENDPOINT",
    "DR_SECRET_MANAGER_ENDPOINT",
)
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Environment:
    """What a command runs against: a label for messages and the variables applied."""

    label: str
    values: Mapping[str, str]
    replaces_shell: bool = False

    def apply(self, environ: MutableMapping[str, str]) -> None:
        """Put the values into ``environ`` (named: overriding, and without emulators)."""
        if self.replaces_shell:
            for name in EMULATOR_VARIABLES:
                environ.pop(name, None)
            environ.update(self.values)
        else:
            for key, value in self.values.items():
                environ.setdefault(key, value)


def config_home(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "eyewearml-dr" / "environments"


def stored_path(name: str, environ: Mapping[str, str]) -> Path:
    if not _NAME.match(name):
        raise RequestError(
            f"environment name {name!r} is not valid: use lowercase letters, digits, '-' or '_'"
        )
    return config_home(environ) / f"{name}.json"


def save(name: str, values: Mapping[str, str], environ: Mapping[str, str]) -> Path:
    path = stored_path(name, environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(dict(values), indent=2, sort_keys=True) + "\n")
    partial.replace(path)
    return path


def load(name: str, environ: Mapping[str, str]) -> Environment:
    path = stored_path(name, environ)
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(
            f"no environment {name!r} in {path.parent}: create it with "
            f"`dr configure --from-terraform infra/environments/{name}`"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"environment {name!r} ({path}) is unreadable: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"environment {name!r} ({path}) is not a JSON object")
    return Environment(f"environment {name}", {str(k): str(v) for k, v in values.items()}, True)


def local_stack(start: Path) -> Environment | None:
    """The local stack's variables if ``start`` or a parent holds a live ``.devstack/env.sh``."""
    for directory in (start, *start.parents):
        env_file = directory / STACK_FILE
        if env_file.is_file():
            if not _owner_alive(directory / STACK_OWNER):
                return None
            return Environment(f"local stack, {STACK_FILE}", parse_exports(env_file.read_text()))
    return None


def _owner_alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def parse_exports(text: str) -> dict[str, str]:
    """``export KEY=VALUE`` lines (shell-quoted values); other lines are ignored."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            values[key] = value
    return values


def resolve(name: str | None, cwd: Path, environ: Mapping[str, str]) -> Environment:
    """The environment a command runs against (see the module docstring)."""
    if name:
        return load(name, environ)
    return local_stack(cwd) or Environment("shell environment", {})
