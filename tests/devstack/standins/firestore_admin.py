"""Firestore Admin API stand-in: managed export/import and databases, over the v1 REST API.

Run as ``python -m tests.devstack.standins.firestore_admin --port P --emulator HOST:PORT
--storage http://HOST:PORT [--faults FILE]``. The official
``FirestoreAdminClient`` (REST transport, anonymous credentials) pointed at it
with ``DR_FIRESTORE_ADMIN_ENDPOINT`` cannot tell it from Google:

* ``databases:exportDocuments`` answers a running operation at once and works
  in a thread: the real emulator exports (``/emulator/v1/projects/P:export``,
  named after the prefix's last segment), the folder is uploaded to
  fake-gcs-server at ``outputUriPrefix``; the finished operation carries
  ``ExportDocumentsMetadata`` with SUCCESSFUL, end time and document/byte
  progress, and an ``ExportDocumentsResponse``.
* ``databases:importDocuments`` downloads the folder, keeps the requested
  collection groups, moves keys to the target database and has the emulator
  import it; reference values stay as exported, pointing into the source
  database, as with the managed import (see
  :mod:`tests.devstack.standins.firestore_exportfiles` for why and the sources).
* operations: get, list, cancel (state CANCELLED, error code 1), delete
  (:mod:`tests.devstack.standins.firestore_operations`); databases: get,
  list, create, delete (:mod:`tests.devstack.standins.firestore_databases`).

What it cannot do: ``snapshotTime`` is validated (whole minute, in the past,
point-in-time recovery on) but the export is of the current data, since the
emulator keeps no versions; ``namespaceIds`` are ignored; an export of
specific collections is the emulator's full export filtered afterwards;
progress jumps from zero to done; error texts for refusals the real service
words differently are this stand-in's own.

Faults, for tests, come from the JSON ``--faults`` file::

    {"location": "nam5",
     "pitr": ["projects/P/databases/(default)"],
     "denied_projects": ["P2"],                     # every call: PERMISSION_DENIED
     "wrong_location_buckets": {"bucket": "EUR4"},  # export/import: FAILED_PRECONDITION
     "failing": ["projects/P/databases/D"],         # exports/imports end FAILED
     "held": ["projects/P/databases/D"],            # ...wait for POST /standin/v1/NAME:release
                                                    # (which releases those waiting then)
     "databases": ["projects/P/databases/D"]}       # named databases that exist from the start
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.devstack import rest
from tests.devstack.standins import firestore_exportfiles as files
from tests.devstack.standins.firestore_databases import TYPE, Databases, Faults
from tests.devstack.standins.firestore_operations import Runner, stamp
from tests.devstack.standins.gcs_folders import Gcs
from tests.devstack.standins.httpbase import ApiError, Request, Router, main

_DB = r"(?P<database>projects/(?P<project>[^/]+)/databases/(?P<db>[^/:]+))"
_PROJECT = r"projects/(?P<project>[^/]+)"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://"):
        raise ApiError(400, f"Invalid URI '{uri}': only gs:// URIs are supported.")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix.strip("/")


class AdminService:
    """Databases and export/import operations; the emulator and fake-gcs do the data work."""

    def __init__(self, emulator: str, storage: str, faults: Faults) -> None:
        self.emulator = f"http://{emulator}"
        self.gcs = Gcs(storage)
        self.faults = faults
        self.runner = Runner(faults.held, faults.failing)
        self.databases = Databases(faults, self.emulator, self.runner)

    def _check_bucket(self, database: dict[str, Any], bucket: str) -> None:
        if not self.gcs.bucket_exists(bucket):
            raise ApiError(404, f"Bucket {bucket} does not exist.")
        if bucket in self.faults.wrong_location:
            raise ApiError(
                400,
                f"Bucket {bucket} is in location {self.faults.wrong_location[bucket]}. This "
                f"project can only operate on buckets spanning location {database['locationId']}.",
                "FAILED_PRECONDITION",
            )

    def _check_snapshot(self, database: dict[str, Any], snapshot: str | None) -> None:
        if snapshot is None:
            return
        moment = dt.datetime.fromisoformat(snapshot.replace("Z", "+00:00"))
        earliest = dt.datetime.fromisoformat(database["earliestVersionTime"].replace("Z", "+00:00"))
        if moment.second or moment.microsecond or moment >= _now() or moment < earliest:
            raise ApiError(
                400,
                f"snapshot_time {snapshot} must be a whole minute in the past, not "
                f"before earliestVersionTime {database['earliestVersionTime']}.",
            )
        if database["pointInTimeRecoveryEnablement"] != "POINT_IN_TIME_RECOVERY_ENABLED":
            raise ApiError(
                400,
                "snapshot_time requires point-in-time recovery on the database.",
                "FAILED_PRECONDITION",
            )

    def export(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        database = self.databases.get(name)
        bucket, prefix = _split_uri(str(body.get("outputUriPrefix", "")))
        self._check_bucket(database, bucket)
        self._check_snapshot(database, body.get("snapshotTime"))
        if not prefix:
            prefix = _now().strftime("%Y-%m-%dT%H:%M:%S_") + uuid.uuid4().hex[:5]
        collections = list(body.get("collectionIds") or [])
        metadata = {
            "@type": TYPE + "ExportDocumentsMetadata", "startTime": stamp(_now()),
            "operationState": "PROCESSING", "collectionIds": collections,
            "outputUriPrefix": f"gs://{bucket}/{prefix}",
            **({"snapshotTime": body["snapshotTime"]} if body.get("snapshotTime") else {}),
        }  # fmt: skip

        def work(scratch: Path, finished: Callable[[], bool]) -> tuple[int, int]:
            folder = scratch / prefix.rsplit("/", 1)[-1]
            rest.call(
                "POST",
                f"{self.emulator}/emulator/v1/{name}:export",
                {"database": name, "export_directory": str(scratch), "export_name": folder.name},
            )
            if collections:
                records = [
                    r for r in files.entity_records(folder) if files.collection_id(r) in collections
                ]
                shutil.rmtree(folder)
                groups: dict[str | None, list[bytes]] = {c: [] for c in collections}
                for record in records:
                    groups[files.collection_id(record)].append(record)
                files.write_export(folder, groups)
            complete = not finished()  # a cancelled or failing export leaves partial output
            self.gcs.upload_folder(folder, bucket, prefix, skip_overall=not complete)
            entities = sum(1 for _ in files.entity_records(folder))
            size = sum(p.stat().st_size for p in folder.rglob("output-*"))
            return entities, size

        response = {
            "@type": TYPE + "ExportDocumentsResponse",
            "outputUriPrefix": metadata["outputUriPrefix"],
        }
        return self.runner.run(name, metadata, work, response)

    def import_(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        database = self.databases.get(name)
        uri = str(body.get("inputUriPrefix", ""))
        bucket, prefix = _split_uri(uri)
        self._check_bucket(database, bucket)
        export_name = prefix.rsplit("/", 1)[-1]
        listed = self.gcs.list(bucket, prefix + "/")
        if f"{prefix}/{export_name}{files.OVERALL_SUFFIX}" not in listed:
            raise ApiError(
                400,
                f"Could not read gs://{bucket}/{prefix}/{export_name}"
                f"{files.OVERALL_SUFFIX}: the input URI prefix is not a "
                "completed export.",
            )
        collections = list(body.get("collectionIds") or [])
        if collections and any("/all_kinds/" in n for n in listed):
            raise ApiError(
                400,
                "Specific collection groups can only be imported from an export "
                "of specific collection groups, not from an export of all "
                "documents.",
            )
        metadata = {
            "@type": TYPE + "ImportDocumentsMetadata",
            "startTime": stamp(_now()),
            "operationState": "PROCESSING",
            "collectionIds": collections,
            "inputUriPrefix": uri,
        }
        project = name.split("/")[1]
        database_id = name.rsplit("/", 1)[-1]

        def work(scratch: Path, finished: Callable[[], bool]) -> tuple[int, int]:
            source = scratch / "source"
            self.gcs.download_folder(bucket, prefix, listed, source)
            records = [
                files.move_to_database(r, database_id)
                for r in files.entity_records(source)
                if not collections or files.collection_id(r) in collections
            ]
            target = scratch / "import" / export_name
            entities, size = files.write_export(target, {None: records})
            if not finished():
                rest.call(
                    "POST",
                    f"{self.emulator}/emulator/v1/projects/{project}:import",
                    {
                        "database": name,
                        "export_directory": str(target / f"{export_name}{files.OVERALL_SUFFIX}"),
                    },
                )
            return entities, size

        empty = {"@type": "type.googleapis.com/google.protobuf.Empty"}
        return self.runner.run(name, metadata, work, empty)


def build_router(service: AdminService) -> Router:
    router = Router()

    def body(r: Request) -> dict[str, Any]:
        return dict(r.body or {})

    def cancel(r: Request) -> tuple[int, Any]:
        service.runner.cancel(r.params["name"])
        return 200, {}

    def release(r: Request) -> tuple[int, Any]:
        service.runner.release(r.params["database"])
        return 200, {}

    def create(r: Request) -> tuple[int, Any]:
        return 200, service.databases.create(
            r.params["project"], r.arg("databaseId") or "", body(r)
        )

    router.add("GET", r"/", lambda r: (200, {"service": "firestore-admin stand-in"}))
    router.add(
        "POST",
        f"/v1/{_DB}:exportDocuments",
        lambda r: (200, service.export(r.params["database"], body(r))),
    )
    router.add(
        "POST",
        f"/v1/{_DB}:importDocuments",
        lambda r: (200, service.import_(r.params["database"], body(r))),
    )
    router.add("POST", r"/v1/(?P<name>.+/operations/[^/:]+):cancel", cancel)
    service.runner.store.add_routes(router)
    router.add("GET", f"/v1/{_DB}", lambda r: (200, service.databases.get(r.params["database"])))
    router.add(
        "DELETE", f"/v1/{_DB}", lambda r: (200, service.databases.delete(r.params["database"]))
    )
    router.add(
        "GET",
        f"/v1/{_PROJECT}/databases",
        lambda r: (200, {"databases": service.databases.list(r.params["project"])}),
    )
    router.add("POST", f"/v1/{_PROJECT}/databases", create)
    router.add("POST", f"/standin/v1/{_DB}:release", release)
    return router


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--emulator", required=True, help="the Firestore emulator's HOST:PORT")
    parser.add_argument("--storage", required=True, help="fake-gcs-server's http://HOST:PORT")
    parser.add_argument("--faults", type=Path, help="JSON file of faults (see module doc)")


def _build(args: argparse.Namespace) -> Router:
    faults = Faults(json.loads(args.faults.read_text()) if args.faults else {})
    return build_router(AdminService(args.emulator, args.storage, faults))


if __name__ == "__main__":
    raise SystemExit(main("firestore_admin", _build, _configure))
