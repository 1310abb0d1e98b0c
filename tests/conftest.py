"""Shared fixtures: the local stack of real servers, clients for it, and per-test isolation.

One session-wide :class:`~tests.devstack.stack.Stack` owns every server. At
its first use it starts, side by side, every server that the collected tests
ask for (through these fixtures), so the two JVMs boot in parallel once per
session; anything else is started on first request. Servers are shared by
the session, so tests keep apart by naming: a fresh bucket
(``bucket_name``), a fresh database (``mongo_db``), or a cleared Firestore
(``clean_firestore``).

A server whose software is missing makes its tests skip with the install
hint, unless ``DR_STACK_REQUIRED=1`` (set in CI), where it fails them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests import browser
from tests.devstack.component import Component
from tests.devstack.emulators import FirestoreEmulator, PubSubEmulator
from tests.devstack.functions import FunctionGroup, FunctionSpec, check_framework
from tests.devstack.mongo import MongoServer, unique_db_name
from tests.devstack.process import ComponentUnavailable, DevstackError
from tests.devstack.stack import Stack
from tests.devstack.standin import SecretManagerStandIn
from tests.devstack.storage import FakeGcsServer, unique_bucket_name

MONGO_AUTH_USERS = {"dr-backup": "local-test-password"}  # a throwaway local credential

# Which stack component each server fixture needs, to start them all at once.
_NEEDS = {
    "firestore_emulator": "firestore",
    "pubsub_emulator": "pubsub",
    "gcs_server": "storage",
    "mongo_server": "mongo",
    "secret_manager": "secret_manager",
    "function_stack": "pubsub",
}


# --- isolation ------------------------------------------------------------------------------


def _is_pytest_handler(handler: logging.Handler) -> bool:
    return type(handler).__module__.startswith("_pytest")


def _logging_state() -> dict[str, tuple[int, list[logging.Handler], bool, bool]]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return {
        logger.name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for logger in loggers
        if isinstance(logger, logging.Logger)
    }


def _restore_logging(saved: Mapping[str, tuple[int, list[logging.Handler], bool, bool]]) -> None:
    """Put levels and handlers back; pytest's own capture handlers are left where they are."""
    for name, logger in [("root", logging.getLogger()), *logging.Logger.manager.loggerDict.items()]:
        if not isinstance(logger, logging.Logger):
            continue
        level, handlers, propagate, disabled = saved.get(name, (logging.NOTSET, [], True, False))
        kept = [h for h in logger.handlers if _is_pytest_handler(h)]
        logger.handlers = [*(h for h in handlers if not _is_pytest_handler(h)), *kept]
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


@pytest.fixture(autouse=True)
def _isolate_process_state() -> Iterator[None]:
    """Every test gets back the environment and logging configuration it started with."""
    environ = dict(os.environ)
    logging_state = _logging_state()
    disabled = logging.root.manager.disable
    yield
    for key in set(os.environ) - set(environ):
        del os.environ[key]
    os.environ.update(environ)
    logging.disable(disabled)
    _restore_logging(logging_state)


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block only (clients read emulator hosts when built)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --- servers --------------------------------------------------------------------------------


def _unavailable(error: ComponentUnavailable) -> NoReturn:
    if os.environ.get("DR_STACK_REQUIRED") == "1":
        pytest.fail(f"{error} (required: DR_STACK_REQUIRED=1)", pytrace=False)
    pytest.skip(str(error))


def _require(stack: Stack, name: str) -> Component:
    try:
        return stack.ensure(name)
    except ComponentUnavailable as error:
        _unavailable(error)


@pytest.fixture(scope="session")
def require_installed() -> Callable[..., None]:
    """``require_installed("pubsub", "functions", "browser")``: skip (or fail, in CI) unless present.

    For tests that start their own stack rather than use the session's.
    """

    def check(*names: str) -> None:
        stack = Stack()
        try:
            for name in names:
                if name == "functions":
                    check_framework()
                elif name == "browser":
                    browser.check_installed()
                else:
                    stack.component(name).check_installed()
        except ComponentUnavailable as error:
            _unavailable(error)
        finally:
            stack.stop()

    return check


@pytest.fixture(scope="session")
def devstack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The session's stack; first use starts what the collected tests need, in parallel."""
    stack = Stack(workdir=tmp_path_factory.mktemp("devstack"))
    wanted = {
        component
        for item in request.session.items
        for fixture, component in _NEEDS.items()
        if fixture in getattr(item, "fixturenames", ())
    }
    installed = []
    for name in sorted(wanted):
        with contextlib.suppress(ComponentUnavailable):
            stack.component(name).check_installed()
            installed.append(name)
    try:
        with contextlib.suppress(DevstackError):  # each fixture retries and reports its own
            stack.start(installed)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def firestore_emulator(devstack: Stack) -> FirestoreEmulator:
    _require(devstack, "firestore")
    return devstack.firestore


@pytest.fixture(scope="session")
def pubsub_emulator(devstack: Stack) -> PubSubEmulator:
    _require(devstack, "pubsub")
    return devstack.pubsub


@pytest.fixture(scope="session")
def gcs_server(devstack: Stack) -> FakeGcsServer:
    _require(devstack, "storage")
    return devstack.storage


@pytest.fixture(scope="session")
def mongo_server(devstack: Stack) -> MongoServer:
    _require(devstack, "mongo")
    return devstack.mongo


@pytest.fixture(scope="session")
def mongo_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """A second SecantusDB that requires authentication; users in ``MONGO_AUTH_USERS``."""
    server = MongoServer(tmp_path_factory.mktemp("mongo-auth"), users=MONGO_AUTH_USERS)
    try:
        server.start()
    except ComponentUnavailable as error:
        _unavailable(error)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def secret_manager(devstack: Stack) -> SecretManagerStandIn:
    _require(devstack, "secret_manager")
    return devstack.secret_manager


@pytest.fixture(scope="session")
def function_stack(devstack: Stack) -> Callable[..., FunctionGroup]:
    """``function_stack(specs, services=("storage",))``: functions served with push triggers.

    Deployed once per distinct (specs, services) for the session, so every
    module asking for the same functions shares them. The functions see the
    variables of ``services`` (started if needed) and of Pub/Sub.
    """
    deployed: dict[tuple[tuple[FunctionSpec, ...], tuple[str, ...]], FunctionGroup] = {}

    def deploy(specs: Iterable[FunctionSpec], *, services: Iterable[str] = ()) -> FunctionGroup:
        key = (tuple(specs), tuple(services))
        if key not in deployed:
            for name in ("pubsub", *key[1]):
                _require(devstack, name)
            try:
                deployed[key] = devstack.deploy(key[0], services=key[1])
            except ComponentUnavailable as error:
                _unavailable(error)
        return deployed[key]

    return deploy


@pytest.fixture
def stack_env(devstack: Stack) -> dict[str, str]:
    """Puts the running servers' variables into ``os.environ`` for this test (then restored)."""
    env = devstack.env()
    os.environ.update(env)
    return env


# --- clients and clean state ----------------------------------------------------------------


@pytest.fixture(scope="session")
def storage_client(gcs_server: FakeGcsServer, devstack: Stack) -> Any:
    """Built by the product's own factory, as a function would build it on this stack."""
    from shared.clients import storage_client

    with patched_environ(gcs_server.env()):
        return storage_client(devstack.project)


@pytest.fixture(scope="session")
def firestore_client(firestore_emulator: FirestoreEmulator, devstack: Stack) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    with patched_environ(firestore_emulator.env()):
        return firestore.Client(project=devstack.project, credentials=AnonymousCredentials())


@pytest.fixture(scope="session")
def publisher(pubsub_emulator: PubSubEmulator) -> Any:
    from shared.clients import publisher_client

    with patched_environ(pubsub_emulator.env()):
        return publisher_client()


@pytest.fixture(scope="session")
def mongo_client(mongo_server: MongoServer) -> Iterator[Any]:
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongo_server.uri(), serverSelectionTimeoutMS=10_000) as client:
        yield client


@pytest.fixture(scope="session")
def secret_manager_client(secret_manager: SecretManagerStandIn) -> Any:
    """The official client as product code builds it for an endpoint override."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import secretmanager

    return secretmanager.SecretManagerServiceClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=secret_manager.url),
    )


@pytest.fixture
def bucket_name() -> str:
    """A bucket name no other test uses (create it yourself: creation is part of many tests)."""
    return unique_bucket_name()


@pytest.fixture
def bucket(storage_client: Any, bucket_name: str) -> Any:
    """A fresh, empty bucket on fake-gcs-server."""
    return storage_client.create_bucket(bucket_name)


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    """A new encryption key file (the old scripts' ``ENCRYPTION_KEY_FILE``)."""
    from shared.keys import generate_key_file

    path = tmp_path / "backup.key"
    generate_key_file(path)
    return str(path)


@pytest.fixture
def mongo_db(mongo_client: Any) -> Iterator[Any]:
    """A fresh database for this test, dropped afterwards."""
    name = unique_db_name()
    yield mongo_client[name]
    mongo_client.drop_database(name)


@pytest.fixture
def dbs(mongo_client: Any) -> Iterator[Callable[[str], Any]]:
    """``dbs(label)``: a fresh database, dropped after the test (with its test-mode scratch)."""
    made: list[str] = []

    def make(label: str) -> Any:
        made.append(unique_db_name(label))
        return mongo_client[made[-1]]

    yield make
    for name in mongo_client.list_database_names():
        if any(name.startswith(base) for base in made):
            mongo_client.drop_database(name)


@pytest.fixture
def clean_firestore(firestore_emulator: FirestoreEmulator) -> FirestoreEmulator:
    """The emulator with its default database emptied before the test."""
    firestore_emulator.clear()
    return firestore_emulator
