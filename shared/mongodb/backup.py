"""One backup run: dump, capture the oplog, upload, then commit the manifest.

The manifest is written last and only if everything before it succeeded; a
run that fails records a ``failed`` manifest (so the catalog says why), and a
run that is killed leaves no manifest at all, which the catalog reports as
incomplete. Neither is ever offered for restore.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared import catalog, compression
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

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

log = logging.getLogger(__name__)
TARGET = "mongodb"


@dataclass(frozen=True)
class DumpOptions:
    """Tuning that is not configuration: tests and benchmarks vary it."""

    part_size: int = DEFAULT_PART_SIZE
    progress: dump.Progress | None = None


def run_backup(
    settings: MongoSettings,
    location: RunLocation,
    *,
    bucket: Bucket,
    keyring: Keyring,
    clock: Callable[[], datetime],
    options: DumpOptions = DumpOptions(),
) -> Manifest:
    """Back up ``settings``' databases into ``location``; the committed manifest."""
    started = clock()
    key = keyring.current()
    try:
        source, details, counts, artifact = _dump(settings, location, bucket, key, started, options)
    except DRError as exc:
        _commit_failure(bucket, location, started, clock(), settings, exc)
        raise
    manifest = Manifest(
        location=location,
        status="succeeded",
        started=started,
        finished=clock(),
        source=source,
        artifacts=(artifact,),
        counts=counts,
        key_id=key.key_id,
        compression=compression.ALGORITHM,
        details=details,
    )
    catalog.commit(bucket, manifest)
    log.info("backup %s committed", location.manifest_path)
    return manifest


def _dump(
    settings: MongoSettings,
    location: RunLocation,
    bucket: Bucket,
    key: Key,
    started: datetime,
    options: DumpOptions,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, int], Artifact]:
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
                bucket,
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
    artifact = Artifact(ARCHIVE_NAME, upload.size, upload.sha256, upload.crc32c)
    return source, details, counts, artifact


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


def _commit_failure(
    bucket: Bucket,
    location: RunLocation,
    started: datetime,
    finished: datetime,
    settings: MongoSettings,
    error: DRError,
) -> None:
    """Record the failure in the catalog; a failure to record it must not hide the first one."""
    manifest = Manifest(
        location=location,
        status="failed",
        started=started,
        finished=finished,
        source={"uri": describe(settings.uri)},
        error=f"{type(error).__name__}: {error}",
    )
    try:
        catalog.commit(bucket, manifest)
    except DRError as exc:
        log.warning("could not record the failed run %s: %s", location.run_id, exc)


def plan_backup(settings: MongoSettings) -> list[str]:
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
