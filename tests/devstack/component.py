"""The contract every local server follows, so a stack can treat them alike.

A component is launched (spawned, cheap, in the caller's thread), then waited
for (polling its health check, which may run in a worker thread), then asked
for the environment variables that point clients at it. ``start`` does both
steps for callers that want one server.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from tests.devstack.process import ManagedProcess, free_port


class Component(abc.ABC):
    """A server on a free 127.0.0.1 port, in its own process group, logging to ``workdir``."""

    name: str
    ready_timeout: ClassVar[float] = 60.0
    stop_timeout: ClassVar[float] = 5.0

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.process: ManagedProcess | None = None
        self.startup_seconds: float | None = None
        self._launched_at = 0.0

    @abc.abstractmethod
    def check_installed(self) -> None:
        """Raise :class:`ComponentUnavailable` naming what to install, if anything is missing."""

    @abc.abstractmethod
    def command(self) -> list[str]:
        """The argv that serves on ``self.port``."""

    @abc.abstractmethod
    def healthy(self) -> bool:
        """True once the server answers requests."""

    @abc.abstractmethod
    def env(self) -> dict[str, str]:
        """Variables that point a client (or product code) at this server."""

    def process_env(self) -> dict[str, str] | None:
        """The server's own environment; None inherits ours."""
        return None

    def process_cwd(self) -> Path | None:
        return None

    @property
    def running(self) -> bool:
        return self.process is not None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def launch(self) -> None:
        self.check_installed()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process = ManagedProcess(
            self.name,
            self.command(),
            self.log_path,
            env=self.process_env(),
            cwd=self.process_cwd(),
            stop_timeout=self.stop_timeout,
        )
        self._launched_at = time.monotonic()
        self.process.spawn()

    def wait_ready(self) -> None:
        assert self.process is not None, f"{self.name} was not launched"
        self.process.wait_until(self.healthy, self.ready_timeout)
        self.startup_seconds = time.monotonic() - self._launched_at

    def start(self) -> Self:
        self.launch()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def terminate(self) -> None:
        """Begin stopping (SIGTERM to the group) without waiting, so many can stop at once."""
        if self.process is not None:
            self.process.terminate()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        self.cleanup()

    def cleanup(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Remove state the server kept on disk; runs after the process is gone."""

    def process_groups(self) -> list[int]:
        pid = self.process.pid if self.process else None
        return [pid] if pid is not None else []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def wait_ready_all(components: Sequence[Component]) -> None:
    """Wait for launched components side by side; stop any that fail, then raise the first error.

    Waiting in parallel is where a stack saves its time: the two JVMs take
    about 1.5 s each to answer, and they start at the same moment.
    """
    if not components:
        return
    with ThreadPoolExecutor(max_workers=len(components)) as pool:
        outcomes = list(zip(components, pool.map(_wait_capturing, components), strict=True))
    errors = []
    for component, error in outcomes:
        if error is not None:
            component.stop()
            errors.append(error)
    if errors:
        for extra in errors[1:]:
            errors[0].add_note(f"also: {extra}")
        raise errors[0]


def _wait_capturing(component: Component) -> Exception | None:
    try:
        component.wait_ready()
    except Exception as error:
        return error
    return None
