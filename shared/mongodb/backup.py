"""One backup run in the job: dump, capture the oplog, upload, then end the run.

The run ends through :func:`shared.backup_end.end_backup`, which commits the
manifest last: a run that fails ends as a ``failed`` manifest (so the catalog
says why) with one report, and a run that is killed leaves no manifest at
all, which the catalog lists as incomplete. Neither is ever offered for
restore. Only a run whose manifest cannot be committed at all is reported
here, with :func:`shared.reporting.failure_report`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import compression, reporting
from shared.backup_end import RunEnd, end_backup
from shared.config import MongoSettings
from shared.crypto import Key, Keyring
from shared.errors import BackupFailed, DRError
from shared.manifest import TOOL_VERSION, Artifact, Manifest, RunLocation
from shared.mongodb import dump, names, oplog, outage
from shared.mongodb.archive import FORMAT, FileRecord
from shared.mongodb.connection import connect, describe, mongo_errors
from shared.mongodb.metadata import prelude_json
from shared.mongodb.pipeline import ARCHIVE_NAME, upload_archive
from shared.mongodb.tarwriter import DEFAULT_PART_SIZE
from shared.storage import StoredObject

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DumpOptions:
    """Tuning that is not configuration: tests and benchmarks vary it."""

    part_size: int = DEFAULT_PART_SIZE
    progress: dump.Progress | None = None


def run_backup(
    settings: MongoSettings,
    location: RunLocation,
    *,
    end: RunEnd,
    keyring: Keyring,
    options: DumpOptions = DumpOptions(),
) -> Manifest:
    """Back up ``settings``' databases into ``location`` and end the run; the stored manifest.

    The run ends through :func:`shared.backup_end.end_backup` exactly once:
    a good dump as a ``succeeded`` manifest, a failed one as a ``failed``
    manifest whose error is then raised (so the job exits with its code).
    """
    started = end.clock()
    try:
        key = keyring.current()
        manifest = _dump(settings, location, end, key, started, options)
    except DRError as exc:
        end_failed(settings, location, end, started, exc)
        raise
    return _end(end, manifest, _report_details(manifest))


def end_failed(
    settings: MongoSettings, location: RunLocation, end: RunEnd, started: datetime, error: DRError
) -> None:
    """End a run that failed as a ``failed`` manifest; a failure to record it is only logged.

    The caller raises ``error`` afterwards: it, not the recording's, says why the run failed.
    """
    failed = Manifest(
        location=location,
        status="failed",
        started=started,
        finished=end.clock(),
        source={"uri": describe(settings.uri)},
        error=f"{type(error).__name__}: {error}",
    )
    try:
        _end(end, failed, {})
    except DRError as unrecorded:  # its report went out already
        log.warning("could not record the failed run %s: %s", location.run_id, unrecorded)


def _end(end: RunEnd, manifest: Manifest, details: Mapping[str, str]) -> Manifest:
    """:func:`end_backup`; a run that cannot commit its manifest at all is reported here."""
    try:
        return end_backup(end, manifest, details)
    except DRError as exc:
        unrecorded = f"the manifest could not be committed: {type(exc).__name__}: {exc}"
        error = f"{manifest.error}; {unrecorded}" if manifest.error else unrecorded
        where = manifest.location
        operation = f"{where.tier} backup"
        report = reporting.failure_report(
            where.target, operation, where.run_id, manifest.started, end.clock(), error
        )
        reporting.deliver(report, end.notifier)
        raise


def _report_details(manifest: Manifest) -> dict[str, str]:
    """What a MongoDB run's report adds: point in time, consistent time, collections dropped."""
    details = manifest.details
    summary = {"point in time": "yes" if details.get("point_in_time") else "no"}
    if details.get("consistent_time"):
        summary["consistent time"] = str(details["consistent_time"])
    if details.get("point_in_time_note"):
        summary["note"] = str(details["point_in_time_note"])
    if details.get("dropped_during_dump"):
        summary["dropped during dump"] = ", ".join(details["dropped_during_dump"])
    return summary


def _dump(
    settings: MongoSettings,
    location: RunLocation,
    end: RunEnd,
    key: Key,
    started: datetime,
    options: DumpOptions,
) -> Manifest:
    server = describe(settings.uri)
    if settings.is_atlas and not server.startswith("mongodb+srv://"):
        log.warning("MONGODB_IS_ATLAS is true but MONGODB_URI is not a mongodb+srv:// URI")
    client = connect(settings.uri)
    stored: list[StoredObject] = []
    try:
        with mongo_errors("backing up", server, BackupFailed):
            hello = client.admin.command("hello")
            version = str(client.admin.command("buildInfo").get("version", "unknown"))
            db_names = dump.database_names(client, settings.db_name)
            _check_exists(client, settings.db_name, server)
            window = oplog.begin(client, hello)
            specs = dump.list_specs(client, db_names)
            with upload_archive(
                end.bucket,
                location.path(ARCHIVE_NAME),
                key,
                level=settings.compression_level,
                mtime=int(started.timestamp()),
                part_size=options.part_size,
                buffers=settings.parallel_collections + 1,
                stored=stored,
            ) as tar:
                prelude = prelude_json(version, TOOL_VERSION)
                files = [tar.add_file(names.prelude_path(settings.db_name), prelude)]
                files += dump.write_metadata(tar, specs)
                results = dump.dump_collections(
                    client,
                    specs,
                    tar,
                    parallel=settings.parallel_collections,
                    outages=outage.Outage(settings.outage_limit_seconds, server),
                    progress=options.progress,
                )
                captured = oplog.capture(client, window, db_names, tar)
    finally:
        client.close()
    files += [r.file for r in results if r.file is not None]
    if captured.file is not None:
        files.append(captured.file)
    source = {
        "uri": server,
        "databases": db_names,
        "server_version": version,
        "replica_set": hello.get("setName"),
        "is_atlas": settings.is_atlas,
    }
    details = _details(db_names, version, options.part_size, results, files, captured)
    counts = {r.spec.namespace: r.count for r in results if r.spec.kind != "view"}
    upload = stored[0]
    return Manifest(
        location=location,
        status="succeeded",
        started=started,
        finished=end.clock(),
        source=source,
        artifacts=(Artifact(ARCHIVE_NAME, upload.size, upload.sha256, upload.crc32c),),
        counts=counts,
        key_id=key.key_id,
        compression=compression.ALGORITHM,
        details=details,
    )


def _check_exists(client: Any, db_name: str | None, server: str) -> None:
    if db_name and db_name not in client.list_database_names():
        raise BackupFailed(
            f"database {db_name!r} (MONGODB_DB_NAME) does not exist on {server}; "
            "check the name, or leave MONGODB_DB_NAME empty to back up every database"
        )


def _details(
    db_names: Sequence[str],
    version: str,
    part_size: int,
    results: Sequence[dump.CollectionResult],
    files: Sequence[FileRecord],
    captured: oplog.OplogResult,
) -> dict[str, Any]:
    consistent = captured.consistent_time
    return {
        "archive_format": FORMAT,
        "part_size": part_size,
        "databases": list(db_names),
        "server_version": version,
        "collections": {
            r.spec.namespace: {
                "type": r.spec.kind,
                "file": r.spec.data_path,
                "count": r.count,
                "content_hash": r.content_hash,
                "dropped_during_dump": r.dropped,
            }
            for r in results
        },
        "files": {f.path: f.to_json() for f in files},
        "point_in_time": captured.point_in_time,
        "point_in_time_note": captured.note,
        "consistent_time": consistent.isoformat() if consistent else None,
        "oplog": captured.to_json(),
        "dropped_during_dump": sorted(r.spec.namespace for r in results if r.dropped),
    }


def plan(settings: MongoSettings) -> list[str]:
    """A dry run: the namespaces a backup would dump, with estimated counts; writes nothing."""
    server = describe(settings.uri)
    client = connect(settings.uri)
    try:
        with mongo_errors("planning a backup", server, BackupFailed):
            _check_exists(client, settings.db_name, server)
            specs = dump.list_specs(client, dump.database_names(client, settings.db_name))
            return [
                f"{spec.namespace} ({spec.kind}"
                + (
                    f", about {client[spec.db][spec.name].estimated_document_count()} documents)"
                    if spec.kind == "collection"
                    else ")"
                )
                for spec in specs
            ]
    finally:
        client.close()
