"""MongoDB: SecantusDB, a MongoDB wire-protocol server on WiredTiger (no real mongod exists here).

With ``users`` the server requires SCRAM authentication. SecantusDB has no
localhost exception, so the users are created first by a short-lived
unauthenticated instance on the same storage (``python -m tests.devstack.mongo``,
which this module also is), and the served instance starts with ``--auth``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.devstack.component import Component
from tests.devstack.process import (
    LOCALHOST,
    REPO_ROOT,
    ComponentUnavailable,
    DevstackError,
    tcp_accepts,
)

_USERS_VAR = "DEVSTACK_MONGO_USERS"  # JSON {user: password}; kept off the command line


def unique_db_name(prefix: str = "test") -> str:
    """A fresh database name: one server is shared by a whole test session."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class MongoServer(Component):
    """SecantusDB on ``port`` with its data under ``workdir`` (deleted on stop)."""

    name = "mongo"
    ready_timeout = 30.0
    # The data is deleted on stop, so a clean shutdown buys nothing, and secantusd's always
    # takes two seconds (its accept thread's join timeout): SIGKILL follows SIGTERM quickly.
    stop_timeout = 0.5

    def __init__(self, workdir: Path, *, users: Mapping[str, str] | None = None) -> None:
        super().__init__(workdir)
        self.users = dict(users or {})
        self.storage_path = workdir / "mongo-data"

    def check_installed(self) -> None:
        if importlib.util.find_spec("secantus") is None:
            raise ComponentUnavailable(self.name, "SecantusDB", "pip install secantusdb")

    def command(self) -> list[str]:
        config = self.workdir / "secantusd.toml"
        config.write_text("# empty: stops secantusd from reading a secantusd.toml in the cwd\n")
        argv = [
            sys.executable, "-m", "secantus",
            "--config", str(config),
            "--host", LOCALHOST,
            "--port", str(self.port),
            "--storage-path", str(self.storage_path),
            "--log-level", "WARNING",
        ]  # fmt: skip
        return [*argv, "--auth"] if self.users else argv

    def launch(self) -> None:
        if self.users:
            self.check_installed()
            self._provision_users()
        super().launch()

    def _provision_users(self) -> None:
        self.storage_path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [sys.executable, "-m", "tests.devstack.mongo", str(self.storage_path)],
            env={**os.environ, _USERS_VAR: json.dumps(self.users)},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise DevstackError(f"{self.name}: creating users failed:\n{result.stderr[-2000:]}")

    def healthy(self) -> bool:
        return tcp_accepts(self.port)

    def uri(self, user: str | None = None, password: str | None = None) -> str:
        """A connection string, with credentials when ``user`` is given."""
        if user is None:
            return f"mongodb://{LOCALHOST}:{self.port}/"
        secret = quote(password if password is not None else self.users.get(user, ""), safe="")
        return (
            f"mongodb://{quote(user, safe='')}:{secret}@{LOCALHOST}:{self.port}/?authSource=admin"
        )

    def env(self) -> dict[str, str]:
        """``MONGODB_URI``, carrying the first user's credentials when auth is on."""
        first = next(iter(self.users), None)
        return {"MONGODB_URI": self.uri(first)}

    def cleanup(self) -> None:
        shutil.rmtree(self.storage_path, ignore_errors=True)

    def _signal(self, sig: signal.Signals) -> None:
        for pgid in self.process_groups():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)

    def pause(self, seconds: float) -> None:
        """Freeze the server (SIGSTOP to its process group) and thaw it ``seconds`` later.

        A frozen server keeps its sockets open and answers nothing, as a paused
        VM or a long stop-the-world pause looks to a client.
        """
        self._signal(signal.SIGSTOP)
        timer = threading.Timer(seconds, self._signal, (signal.SIGCONT,))
        timer.daemon = True
        timer.start()

    @contextlib.contextmanager
    def thawed_at_exit(self) -> Iterator[None]:
        """Whatever happens in the block, the server runs again after it."""
        try:
            yield
        finally:
            self._signal(signal.SIGCONT)


def _provision(storage_path: str, users: Mapping[str, str]) -> None:
    import pymongo
    from secantus import SecantusDBServer

    server = SecantusDBServer(host=LOCALHOST, port=0, storage_path=storage_path)
    server.start()
    try:
        client: pymongo.MongoClient[dict[str, Any]]
        with pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=10_000) as client:
            for user, password in users.items():
                client.admin.command("createUser", user, pwd=password, roles=["root"])
    finally:
        server.stop()


if __name__ == "__main__":
    _provision(sys.argv[1], json.loads(os.environ[_USERS_VAR]))
