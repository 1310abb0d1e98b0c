"""Cloud Functions served by functions-framework, triggered through the Pub/Sub emulator.

Deployment mirrors Google Cloud: each function's trigger topic gets a push
subscription whose endpoint is the function's URL, so a message published to
the topic (by a client, by ``gcloud``, by another function) reaches the
function as an HTTP push, and a failing function sees redeliveries and, with
a dead-letter policy, its message forwarded to the dead-letter topic.

The push path is ``/projects/P/topics/T``: functions-framework takes the topic
from the request path when it turns a raw push body into a CloudEvent, so the
event's ``source`` is ``//pubsub.googleapis.com/projects/P/topics/T`` as in
production. functions-framework 3.x serves with gunicorn (one worker, gthread,
4 threads per CPU), so concurrent pushes are handled concurrently.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from tests.devstack import rest
from tests.devstack.component import Component, wait_ready_all
from tests.devstack.emulators import PubSubEmulator
from tests.devstack.process import (
    LOCALHOST,
    REPO_ROOT,
    ComponentUnavailable,
    DevstackError,
    http_answers,
)


def check_framework(component: str = "functions") -> None:
    if importlib.util.find_spec("functions_framework") is None:
        raise ComponentUnavailable(
            component, "functions-framework", "pip install functions-framework"
        )


@dataclass(frozen=True)
class FunctionSpec:
    """One function as deployed: entry point, trigger topics, source file, its own settings.

    ``source`` is relative to the repository root (or absolute). ``env`` is
    laid over the stack's variables (emulator hosts, endpoints), so product
    settings go here.
    """

    target: str
    topics: tuple[str, ...]
    source: str = "functions/main.py"
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    dead_letter_topic: str | None = None
    max_delivery_attempts: int = 5

    def subscription(self, topic: str) -> str:
        return f"{self.target}-{topic}"

    @property
    def dead_letter_subscription(self) -> str | None:
        """A pull subscription on the dead-letter topic, so dead letters are kept and readable."""
        return f"{self.dead_letter_topic}-pull" if self.dead_letter_topic else None

    @property
    def source_path(self) -> Path:
        return Path(self.source) if Path(self.source).is_absolute() else REPO_ROOT / self.source


class FunctionServer(Component):
    """``functions-framework --signature-type=cloudevent`` for one target."""

    ready_timeout = 60.0
    stop_timeout = 10.0

    def __init__(self, workdir: Path, spec: FunctionSpec, base_env: Mapping[str, str]) -> None:
        super().__init__(workdir)
        self.name = f"function-{spec.target}"
        self.spec = spec
        self.base_env = dict(base_env)

    def check_installed(self) -> None:
        check_framework(self.name)
        if not self.spec.source_path.is_file():
            raise DevstackError(f"{self.name}: source {self.spec.source_path} does not exist")

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def push_endpoint(self, project: str, topic: str) -> str:
        return f"{self.url}/projects/{project}/topics/{topic}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "functions_framework",
            f"--target={self.spec.target}",
            f"--source={self.spec.source_path}",
            "--signature-type=cloudevent",
            f"--host={LOCALHOST}",
            f"--port={self.port}",
        ]  # fmt: skip

    def process_env(self) -> dict[str, str]:
        # The repository root on the path: the function's source imports ``shared``.
        path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        return {
            **os.environ,
            **self.base_env,
            **self.spec.env,
            "PYTHONPATH": path,
            "PYTHONUNBUFFERED": "1",
        }

    def process_cwd(self) -> Path:
        return REPO_ROOT

    def healthy(self) -> bool:
        return http_answers(self.url + "/")  # GET answers 405 without calling the function

    def env(self) -> dict[str, str]:
        return {}


class FunctionGroup:
    """Functions started side by side and subscribed to their topics on ``pubsub``."""

    def __init__(
        self,
        pubsub: PubSubEmulator,
        specs: Iterable[FunctionSpec],
        workdir: Path,
        base_env: Mapping[str, str],
    ) -> None:
        self.pubsub = pubsub
        self.specs = tuple(specs)
        self.servers = {s.target: FunctionServer(workdir, s, base_env) for s in self.specs}
        if len(self.servers) != len(self.specs):
            raise DevstackError("two function specs share a target")

    def server(self, target: str) -> FunctionServer:
        return self.servers[target]

    def launch(self) -> None:
        for server in self.servers.values():
            server.launch()

    def wait_ready(self) -> None:
        wait_ready_all(list(self.servers.values()))
        self._subscribe()

    def start(self) -> Self:
        self.launch()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _subscribe(self) -> None:
        project = self.pubsub.project
        for spec in self.specs:
            if spec.dead_letter_topic and spec.dead_letter_subscription:
                self.pubsub.create_topic(spec.dead_letter_topic)
                self.pubsub.create_subscription(
                    spec.dead_letter_subscription, spec.dead_letter_topic
                )
            for topic in spec.topics:
                self.pubsub.create_topic(topic)
                self.pubsub.create_subscription(
                    spec.subscription(topic),
                    topic,
                    push_endpoint=self.servers[spec.target].push_endpoint(project, topic),
                    dead_letter_topic=spec.dead_letter_topic,
                    max_delivery_attempts=spec.max_delivery_attempts,
                )

    def stop(self) -> None:
        """Drop the push subscriptions (nothing keeps pushing to a dead port), then the servers."""
        if self.pubsub.running:
            for spec in self.specs:
                for topic in spec.topics:
                    # If the emulator is going away too, there is nothing left to clean.
                    with contextlib.suppress(rest.RestError, OSError):
                        self.pubsub.delete_subscription(spec.subscription(topic))
        for server in self.servers.values():
            server.terminate()
        for server in self.servers.values():
            server.stop()

    def process_groups(self) -> list[int]:
        return [pgid for server in self.servers.values() for pgid in server.process_groups()]

    def timings(self) -> dict[str, float]:
        return {s.name: s.startup_seconds or 0.0 for s in self.servers.values()}
