"""The local stack: real servers on loopback, started together and stopped together.

A :class:`Stack` owns every process it starts. ``stop`` (also run by
``with``, by an ``atexit`` hook, and by the CLI's signal handlers) stops
function servers first, so nothing is pushed to a port that is going away,
then signals every other server's process group at once and waits for them.
Call ``start``/``ensure``/``deploy`` from a thread that outlives the stack
(normally the main thread): servers receive SIGTERM when the thread that
spawned them ends.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self, cast

from tests.devstack.component import Component, wait_ready_all
from tests.devstack.emulators import FirestoreEmulator, PubSubEmulator
from tests.devstack.functions import FunctionGroup, FunctionSpec
from tests.devstack.mongo import MongoServer
from tests.devstack.process import DevstackError
from tests.devstack.sdk import gcloud_cli_env
from tests.devstack.standin import CloudRunStandIn, FirestoreAdminStandIn, SecretManagerStandIn
from tests.devstack.storage import FakeGcsServer

DEFAULT_PROJECT = "demo-eyewearml"  # any demo- project id keeps clients off real Google Cloud
SERVICES = (
    "firestore",
    "pubsub",
    "storage",
    "mongo",
    "secret_manager",
    "firestore_admin",
    "cloud_run",
)
# Components that need others running first (they are given their addresses).
DEPENDS = {"firestore_admin": ("firestore", "storage")}


class Stack:
    """Components by name (see ``SERVICES``), created on first use, started on request."""

    def __init__(
        self,
        *,
        project: str = DEFAULT_PROJECT,
        workdir: Path | None = None,
        mongo_users: Mapping[str, str] | None = None,
        secret_seed: Path | None = None,
    ) -> None:
        self.project = project
        self._own_workdir = workdir is None
        self.workdir = (
            workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="devstack-"))
        )
        self._factories: dict[str, Callable[[], Component]] = {
            "firestore": lambda: FirestoreEmulator(self.workdir, project),
            "pubsub": lambda: PubSubEmulator(self.workdir, project),
            "storage": lambda: FakeGcsServer(self.workdir),
            "mongo": lambda: MongoServer(self.workdir, users=mongo_users),
            "secret_manager": lambda: SecretManagerStandIn(self.workdir, project, secret_seed),
            "firestore_admin": lambda: FirestoreAdminStandIn(
                self.workdir / "firestore_admin", self.firestore, self.storage
            ),
            "cloud_run": lambda: CloudRunStandIn(self.workdir / "cloud_run"),
        }
        self._components: dict[str, Component] = {}
        self._groups: list[FunctionGroup] = []
        self._exit_hook_registered = False

    def component(self, name: str) -> Component:
        """The component called ``name``, created (not started) on first request."""
        if name not in self._factories:
            raise DevstackError(f"unknown component {name!r}; known: {', '.join(SERVICES)}")
        if name not in self._components:
            self._components[name] = self._factories[name]()
        return self._components[name]

    @property
    def firestore(self) -> FirestoreEmulator:
        return cast(FirestoreEmulator, self.component("firestore"))

    @property
    def pubsub(self) -> PubSubEmulator:
        return cast(PubSubEmulator, self.component("pubsub"))

    @property
    def storage(self) -> FakeGcsServer:
        return cast(FakeGcsServer, self.component("storage"))

    @property
    def mongo(self) -> MongoServer:
        return cast(MongoServer, self.component("mongo"))

    @property
    def secret_manager(self) -> SecretManagerStandIn:
        return cast(SecretManagerStandIn, self.component("secret_manager"))

    @property
    def firestore_admin(self) -> FirestoreAdminStandIn:
        return cast(FirestoreAdminStandIn, self.component("firestore_admin"))

    @property
    def cloud_run(self) -> CloudRunStandIn:
        return cast(CloudRunStandIn, self.component("cloud_run"))

    def start(self, names: Iterable[str] = SERVICES) -> Self:
        """Start the named components that are not running yet, side by side.

        Every one is checked for installation before any is launched, so a
        missing tool fails fast with :class:`ComponentUnavailable`.
        """
        wanted = list(dict.fromkeys(names))
        later = [n for n in wanted if n in DEPENDS]
        first = list(dict.fromkeys([n for n in wanted if n not in DEPENDS]
                                   + [d for n in later for d in DEPENDS[n]]))  # fmt: skip
        for wave in (first, later):
            pending = [c for c in (self.component(n) for n in wave) if not c.running]
            for component in pending:
                component.check_installed()
            self._register_exit_hook()
            for component in pending:
                component.launch()
            wait_ready_all(pending)
        return self

    def ensure(self, name: str) -> Component:
        """The component ``name``, started if it is not running."""
        self.start([name])
        return self.component(name)

    def deploy(
        self, specs: Iterable[FunctionSpec], *, services: Iterable[str] | None = None
    ) -> FunctionGroup:
        """Serve ``specs`` with push subscriptions from this stack's Pub/Sub emulator.

        The functions get the variables of ``services`` (started if needed;
        default: every running component) under each spec's own ``env``.
        """
        if services is not None:
            names = ("pubsub", *services)
            self.start(names)
            base = self._base_env(self.component(n) for n in names)
        else:
            self.start(["pubsub"])
            base = self.env()
        group = FunctionGroup(self.pubsub, specs, self.workdir, base)
        self._groups.append(group)
        group.start()
        return group

    def undeploy(self, group: FunctionGroup) -> None:
        group.stop()
        self._groups.remove(group)

    def _base_env(self, components: Iterable[Component]) -> dict[str, str]:
        env = {"GOOGLE_CLOUD_PROJECT": self.project}
        for component in components:
            env.update(component.env())
        return env

    def env(self) -> dict[str, str]:
        """Variables pointing clients and product code at every running component."""
        return self._base_env(c for c in self._components.values() if c.running)

    def gcloud_env(self, config_dir: Path) -> dict[str, str]:
        """Variables under which the real ``gcloud`` CLI uses this stack's Pub/Sub and Storage."""
        pubsub, storage = self._components.get("pubsub"), self._components.get("storage")
        return gcloud_cli_env(
            config_dir=config_dir,
            project=self.project,
            pubsub_url=self.pubsub.url if pubsub and pubsub.running else None,
            storage_url=self.storage.url if storage and storage.running else None,
        )

    def timings(self) -> dict[str, float]:
        """Seconds from launch to healthy, per started component and function."""
        found = {n: c.startup_seconds for n, c in self._components.items() if c.startup_seconds}
        for group in self._groups:
            found.update(group.timings())
        return {name: float(seconds or 0.0) for name, seconds in found.items()}

    def exited(self) -> list[str]:
        """Names of started servers whose process has ended on its own."""
        servers = [
            *self._components.values(),
            *(s for g in self._groups for s in g.servers.values()),
        ]
        return [c.name for c in servers if c.process is not None and c.process.exited() is not None]

    def process_groups(self) -> list[int]:
        groups = [g for c in self._components.values() for g in c.process_groups()]
        return groups + [g for group in self._groups for g in group.process_groups()]

    def stop(self) -> None:
        """Stop everything this stack started; safe to call more than once."""
        for group in reversed(self._groups):
            group.stop()
        self._groups.clear()
        running = [c for c in self._components.values() if c.running]
        for component in running:
            component.terminate()
        for component in running:
            component.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self._exit_hook_registered:
            atexit.unregister(self.stop)
            self._exit_hook_registered = False

    def _register_exit_hook(self) -> None:
        if not self._exit_hook_registered:
            atexit.register(self.stop)
            self._exit_hook_registered = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
