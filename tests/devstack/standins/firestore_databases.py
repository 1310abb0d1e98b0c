"""Databases of the Firestore Admin stand-in, and the fault rules that shape its answers.

Every project has a ``(default)`` database; named ones exist when the fault
file lists them or a client creates them. A database's location, its
point-in-time-recovery setting (and so its ``earliestVersionTime``) come
from the fault rules. Deleting a database also deletes its documents in the
emulator, so "the scratch database is gone" is observable in the data too.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

from tests.devstack import rest
from tests.devstack.standins.firestore_operations import Runner, stamp
from tests.devstack.standins.httpbase import ApiError

TYPE = "type.googleapis.com/google.firestore.admin.v1."


class Faults:
    """The ``--faults`` rules (see :mod:`tests.devstack.standins.firestore_admin`)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.location = str(config.get("location", "nam5"))
        self.pitr = set(config.get("pitr", []))
        self.denied = set(config.get("denied_projects", []))
        self.wrong_location = dict(config.get("wrong_location_buckets", {}))
        self.failing = set(config.get("failing", []))
        self.held = set(config.get("held", []))
        self.databases = list(config.get("databases", []))


class Databases:
    """The databases that exist, by full name; safe to share between request threads."""

    def __init__(self, faults: Faults, emulator: str, runner: Runner) -> None:
        self.faults = faults
        self.emulator = emulator
        self.operations = runner.store
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}
        for name in faults.databases:
            self._records[name] = self._json(name)

    def _json(self, name: str) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        pitr = name in self.faults.pitr
        retention = dt.timedelta(days=7) if pitr else dt.timedelta(hours=1)
        return {
            "name": name, "uid": str(uuid.uuid4()), "createTime": stamp(now),
            "locationId": self.faults.location, "type": "FIRESTORE_NATIVE",
            "concurrencyMode": "PESSIMISTIC",
            "versionRetentionPeriod": f"{int(retention.total_seconds())}s",
            "earliestVersionTime": stamp(now - retention),
            "pointInTimeRecoveryEnablement": "POINT_IN_TIME_RECOVERY_"
            + ("ENABLED" if pitr else "DISABLED"),
            "deleteProtectionState": "DELETE_PROTECTION_DISABLED",
        }  # fmt: skip

    def check_project(self, project: str) -> None:
        if project in self.faults.denied:
            raise ApiError(403, "The caller does not have permission")

    def get(self, name: str) -> dict[str, Any]:
        project, _, database = name.removeprefix("projects/").partition("/databases/")
        self.check_project(project)
        with self._lock:
            if database == "(default)" and name not in self._records:
                self._records[name] = self._json(name)
            if name not in self._records:
                raise ApiError(404, f"Project '{project}' or database '{database}' does not exist.")
            return dict(self._records[name])

    def list(self, project: str) -> list[dict[str, Any]]:
        self.check_project(project)
        self.get(f"projects/{project}/databases/(default)")
        with self._lock:
            return [
                dict(record)
                for name, record in self._records.items()
                if name.startswith(f"projects/{project}/")
            ]

    def create(self, project: str, database_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.check_project(project)
        if not database_id or not (4 <= len(database_id) <= 63) or not database_id[0].isalpha():
            raise ApiError(400, f"Invalid database id: {database_id!r}.")
        name = f"projects/{project}/databases/{database_id}"
        with self._lock:
            if name in self._records:
                raise ApiError(409, f"Database {name} already exists.")
            record = {
                **self._json(name),
                "locationId": body.get("locationId") or self.faults.location,
            }
            self._records[name] = record
        operation = self.operations.create(name, {"@type": TYPE + "CreateDatabaseMetadata"})
        self.operations.finish(operation["name"], response={"@type": TYPE + "Database", **record})
        return self.operations.get(operation["name"])

    def delete(self, name: str) -> dict[str, Any]:
        record = self.get(name)
        rest.call("DELETE", f"{self.emulator}/emulator/v1/{name}/documents")
        with self._lock:
            self._records.pop(name, None)
        operation = self.operations.create(name, {"@type": TYPE + "DeleteDatabaseMetadata"})
        self.operations.finish(operation["name"], response={"@type": TYPE + "Database", **record})
        return self.operations.get(operation["name"])
