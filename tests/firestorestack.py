"""The Firestore Admin API stand-in as a stack component, its fault rules, and test helpers.

:func:`export_now` takes an ended export; :class:`Restorer` plays the
dispatcher and the completion step for a restore, start to end.

The stand-in runs as its own process (like every stand-in) against the
session's Firestore emulator and fake-gcs-server, with the fault rules below.
The fixtures that start it are in :mod:`tests.firestore_fixtures`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests import firestoredata
from tests.devstack.emulators import FirestoreEmulator
from tests.polling import wait_until

if TYPE_CHECKING:
    from shared.firestore.backup import StartedExport
    from shared.firestore.restore import RestoreStarted
    from shared.manifest import Manifest
    from shared.target import RestoreOutcome

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


def backups(settings: Any, bucket: Any, client: Any, now: datetime | None = None) -> Any:
    """The Firestore backup target on the test's bucket, its clock stopped at ``now`` if given."""
    from shared.clock import utc_now
    from shared.firestore.target import FirestoreBackupTarget

    return FirestoreBackupTarget(settings, bucket, client, (lambda: now) if now else utc_now)


def start(
    settings: Any, bucket: Any, client: Any, now: datetime | None = None, tier: str = "daily"
) -> StartedExport:
    """Start one export at ``now`` (a new run), as a trigger would, without completing others."""
    from shared.firestore import backup
    from shared.manifest import RunLocation, new_run_id

    target = backups(settings, bucket, client, now)
    location = RunLocation("", "firestore", tier, new_run_id(target.clock()))
    started: StartedExport = backup.start(settings, location, end=target.run_end(), client=client)
    return started


def complete(settings: Any, bucket: Any, client: Any, now: datetime | None = None) -> Any:
    """Run the backup completion step once at ``now``; what it did with each pending run."""
    return backups(settings, bucket, client, now).complete()


def export_now(settings: Any, bucket: Any, client: Any, now: datetime | None = None) -> Manifest:
    """Export now and end the run at once, as the completion step would; its manifest."""
    started = start(settings, bucket, client, now)
    assert started.operation is not None
    wait_done(client, started.operation)
    complete(settings, bucket, client)
    manifest: Manifest | None = next(
        e.manifest for e in runs(bucket) if e.backup_id == started.location.run_id
    )
    assert manifest is not None
    return manifest


class Restorer:
    """Plays the dispatcher: creates the status record, starts, then runs the completion step."""

    def __init__(self, settings: Any, state: Any, bucket: Any, client: Any) -> None:
        from shared.restore.status import StatusStore

        self.settings, self.store = settings, StatusStore(state)
        self.bucket, self.client = bucket, client
        self.count = 0

    def start(self, **fields: Any) -> tuple[str, RestoreOutcome | RestoreStarted]:
        from shared.firestore import restore
        from shared.firestore.request import FirestoreRestore

        self.count += 1
        request_id = f"req-{self.count}"
        fields.setdefault("date", datetime.now(UTC).date().isoformat())
        self.store.create(request_id, {"target": "firestore", **fields}, f"msg-{self.count}")
        if not fields.get("dry_run"):
            self.store.set_phase(request_id, "InProgress")
        return request_id, restore.start_restore(
            FirestoreRestore.from_fields(fields),
            settings=self.settings,
            store=self.store,
            request_id=request_id,
            bucket=self.bucket,
            client=self.client,
            now=datetime.now(UTC),
        )

    def finish(self, request_id: str) -> dict[str, Any]:
        from shared.firestore.restore_completion import complete_restores

        def ended() -> bool:
            complete_restores(
                self.settings,
                store=self.store,
                client=self.client,
                now=datetime.now(UTC),
                timeout=TIMEOUT,
            )
            record = self.store.get(request_id)
            return record is not None and record.final

        wait_until(ended, what=f"restore {request_id}")
        record = self.store.get(request_id)
        assert record is not None
        return dict(record.data)
