"""The ``.devstack/`` state of a stack run by ``python -m tests.devstack up``.

Standard library only, and nothing newer than the oldest supported Python
would need: ``python3 -m tests.devstack env`` must work without the venv.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

STATE_DIR = Path(__file__).resolve().parents[2] / ".devstack"
OWNERS = (b"tests.devstack", b"tests.demo")  # the commands that keep a stack up


def env_path(state_dir: Path) -> Path:
    return state_dir / "env.sh"


def _pid_path(state_dir: Path) -> Path:
    return state_dir / "stack.pid"


def write(state_dir: Path, env: Mapping[str, str]) -> Path:
    """Write ``env.sh`` (one ``export`` line per variable) and record this process as its owner."""
    state_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# Local stack of pid {os.getpid()}; valid while `python -m tests.devstack up` runs."]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    # Owner first, each file whole (rename): whoever sees env.sh can also verify its owner.
    _replace(_pid_path(state_dir), f"{os.getpid()}\n")
    _replace(env_path(state_dir), "\n".join(lines) + "\n")
    return env_path(state_dir)


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def remove(state_dir: Path) -> None:
    """Forget the stack (it is stopping): a later ``env`` then reports that none is up."""
    for path in (env_path(state_dir), _pid_path(state_dir)):
        path.unlink(missing_ok=True)


def live_owner(state_dir: Path) -> int | None:
    """The pid of the running ``up`` that wrote the state, or None if there is none.

    Checks the command line too, so a stale file whose pid was reused by an
    unrelated process is not mistaken for a live stack.
    """
    try:
        pid = int(_pid_path(state_dir).read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if any(owner in command for owner in OWNERS) else None


def read(state_dir: Path) -> str | None:
    """The text of ``env.sh`` if its stack is up, else None."""
    if live_owner(state_dir) is None:
        return None
    try:
        return env_path(state_dir).read_text()
    except OSError:
        return None
