"""The Firestore Admin API stand-in as a stack component, its fault rules, and test helpers.

The stand-in runs as its own process (like every stand-in) against the
session's Firestore emulator and fake-gcs-server, with the fault rules below.
The fixtures that start it are in :mod:`tests.firestore_fixtures`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tests import firestoredata
from tests.devstack.emulators import FirestoreEmulator
from tests.polling import wait_until

DENIED_PROJECT = "demo-denied"
EU_BUCKET = "dr-test-eu-backups"
HELD_DB = "held"  # its exports and imports wait until released (and it has PITR)
BROKEN_DB = "broken"  # its exports and imports fail
PLAIN_DB = "plain"  # point-in-time recovery off


def faults(project: str) -> dict[str, Any]:
    def db(name: str) -> str:
        return f"projects/{project}/databases/{name}"

    return {
        "location": "nam5",
        "pitr": [db("(default)"), db(HELD_DB)],
        "denied_projects": [DENIED_PROJECT],
        "wrong_location_buckets": {EU_BUCKET: "EUR4"},
        "failing": [db(BROKEN_DB)],
        "held": [db(HELD_DB)],
        "databases": [db(HELD_DB), db(BROKEN_DB), db(PLAIN_DB)],
    }


@dataclass
class Webhook:
    """A real HTTP receiver configured as ``NOTIFY_WEBHOOK`` (generic JSON format)."""

    url: str
    server: Any

    def received(self) -> list[dict[str, Any]]:
        return [json.loads(request.get_data()) for request, _ in self.server.log]


def data_client(project: str, database: str = "(default)") -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    return firestore.Client(project=project, database=database, credentials=AnonymousCredentials())


TIMEOUT = timedelta(hours=12)  # the export timeout the tests run with


def settings_for(project: str, bucket: str, webhook: Webhook | None = None, **keys: str) -> Any:
    """Firestore settings as the config file would give them, plus ``keys``; no environment."""
    from shared import config

    overrides = {
        "FIRESTORE_PROJECT_ID": project,
        "FIRESTORE_GCS_BUCKET": bucket,
        "NOTIFY_WEBHOOK": webhook.url if webhook else "",
        "NOTIFY_WEBHOOK_FORMAT": "json",
        **keys,
    }
    return config.firestore_settings(config.sources(overrides=overrides, environ={}))


def seed(firestore_emulator: FirestoreEmulator, project: str, database: str) -> None:
    """Replace ``database``'s documents with :mod:`tests.firestoredata`'s catalogue."""
    firestore_emulator.clear(database)
    firestoredata.seed(data_client(project, database))


def runs(bucket: Any) -> list[Any]:
    """Every Firestore run in ``bucket`` (catalog entries), newest first."""
    from shared import catalog

    return catalog.Catalog(bucket, "firestore").entries()


def wait_done(client: Any, operation: str | None) -> None:
    """Wait until the Admin API reports ``operation`` done."""
    from shared.firestore import admin

    assert operation is not None
    wait_until(lambda: admin.operation_status(client, operation).done, what=operation)
