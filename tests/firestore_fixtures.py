"""Fixtures of the Firestore tests, loaded with ``pytest_plugins = ["tests.firestore_fixtures"]``.

Session-wide: the Admin API stand-in. Per test: the stack's variables in the
environment, the Admin client product code would build, fresh buckets, a
real webhook receiver for notifications, the seeded source database and a
:class:`~tests.firestorestack.Restorer` over all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import patched_environ
from tests.devstack.emulators import FirestoreEmulator
from tests.devstack.stack import Stack
from tests.devstack.standin import FirestoreAdminStandIn
from tests.devstack.storage import FakeGcsServer, unique_bucket_name
from tests.firestorestack import Restorer, Webhook, data_client, faults, seed, settings_for


@pytest.fixture(scope="session")
def firestore_admin(
    devstack: Stack, firestore_emulator: FirestoreEmulator, gcs_server: FakeGcsServer
) -> Iterator[FirestoreAdminStandIn]:
    standin = FirestoreAdminStandIn(
        devstack.workdir, firestore_emulator, gcs_server, faults(devstack.project)
    )
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def fs_env(
    firestore_admin: FirestoreAdminStandIn,
    firestore_emulator: FirestoreEmulator,
    gcs_server: FakeGcsServer,
) -> Iterator[dict[str, str]]:
    """The variables product code reads to find the stack (restored after the test)."""
    env = {**firestore_admin.env(), **firestore_emulator.env(), **gcs_server.env()}
    with patched_environ(env):
        yield env


@pytest.fixture
def admin_client(fs_env: dict[str, str]) -> Any:
    from shared.clients import firestore_admin_client

    return firestore_admin_client()


@pytest.fixture
def backup_bucket(storage_client: Any, bucket_name: str) -> Any:
    return storage_client.create_bucket(bucket_name)


@pytest.fixture
def state_bucket(storage_client: Any) -> Any:
    return storage_client.create_bucket(unique_bucket_name("state"))


@pytest.fixture
def webhook(httpserver: Any) -> Webhook:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    return Webhook(httpserver.url_for("/hook"), httpserver)


@pytest.fixture
def seeded(fs_env: dict[str, str], firestore_emulator: Any, devstack: Any) -> Any:
    seed(firestore_emulator, devstack.project, "(default)")
    return data_client(devstack.project)


@pytest.fixture
def restorer(
    seeded: Any,
    devstack: Any,
    backup_bucket: Any,
    state_bucket: Any,
    admin_client: Any,
    webhook: Webhook,
) -> Restorer:
    settings = settings_for(devstack.project, backup_bucket.name, webhook)
    return Restorer(settings, state_bucket, backup_bucket, admin_client)
