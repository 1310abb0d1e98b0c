"""Restoring a MongoDB backup: the guide's forms, with the safety rules enforced here too.

* ``--date D --type T [--hour H]`` picks the backup (:meth:`Catalog.resolve`).
* Without ``--target-db`` the databases are restored under their own names:
  that overwrites production, so it runs only when ``confirm`` repeats the
  database name (several: comma-joined, sorted). ``--target-db X`` restores a
  one-database backup (or ``ns_include`` selection) as ``X``; ``ns_include``,
  ``ns_exclude``, ``ns_from``, ``ns_to`` select and rename as mongorestore's
  ``--ns*`` options do (:mod:`.namespaces`).
* Collections that already exist in a target are refused unless ``drop`` is
  set; then each is dropped just before it is restored, never earlier.
* ``--test-mode`` restores into a scratch database, compares every
  collection's count and content hash (and index names) with the manifest,
  drops the scratch database whatever happened, and reports.
* ``--dry-run`` only says what would be written.

The archive is verified end to end before the first write (see
:mod:`.verify`); both passes read the same object generation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient

from shared.config import MongoSettings
from shared.crypto import Keyring
from shared.errors import BackupNotFound, IntegrityError
from shared.manifest import Manifest
from shared.mongodb import plan, verify
from shared.mongodb.connection import connect, describe, mongo_errors
from shared.mongodb.inserts import Workers
from shared.mongodb.load import Loader, LoadResult
from shared.mongodb.metadata import CollectionSpec
from shared.mongodb.namespaces import Selection
from shared.mongodb.pipeline import archive_object, open_backup
from shared.mongodb.request import MongoRestoreRequest
from shared.target import Progress, RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

log = logging.getLogger(__name__)


def restore(
    settings: MongoSettings,
    request: MongoRestoreRequest,
    *,
    bucket: Bucket,
    keyring: Keyring,
    progress: Progress,
    token: str,
) -> RestoreOutcome:
    """Run ``request``; ``token`` names a test run's scratch databases."""
    manifest = plan.resolve(bucket, settings.prefix, request)
    selection = plan.database_map(manifest, request, token)
    where = f"gs://{bucket.name}/{archive_object(manifest)}"
    server = describe(settings.uri)
    client = connect(settings.uri)
    try:
        with mongo_errors("restoring", server):
            existing = plan.existing_targets(client, manifest, selection)
            occupied = () if request.test_mode else plan.occupied_databases(client, selection)
            production = plan.production_name(manifest, settings.db_name, request, occupied)
            plan.check_safety(request, production, existing)
            lines = plan.plan_lines(manifest, selection, existing)
            if request.dry_run:
                return plan.outcome(manifest, bucket, request, selection, plan=lines)
            keys = (keyring, settings.encryption.key_files)
            workers = Workers(settings.parallel_collections, settings.insertion_workers)
            return _run(
                client, manifest, request, selection, existing, bucket, keys, progress, where,
                workers,
            )  # fmt: skip
    finally:
        if request.test_mode and not request.dry_run:
            _drop_scratch(client, selection.target_databases)
        client.close()


def _run(
    client: MongoClient[dict[str, Any]],
    manifest: Manifest,
    request: MongoRestoreRequest,
    selection: Selection,
    existing: Mapping[str, int],
    bucket: Bucket,
    keys: tuple[Keyring, Sequence[str]],
    progress: Progress,
    where: str,
    workers: Workers,
) -> RestoreOutcome:
    generation = _generation(bucket, archive_object(manifest), where)
    progress.update(step="verifying the archive against the manifest")
    specs = verify.verify_archive(open_backup(bucket, manifest, generation, *keys), manifest, where)
    for namespace in existing:
        db, _, name = namespace.partition(".")
        client[db].drop_collection(name)
    problems: list[str] = []

    def check() -> None:
        progress.phase("Verifying")
        counted = None if request.test_mode else loader.result
        problems.extend(_compare(client, manifest, specs, selection, counted))

    files = manifest.details.get("files") or {}
    loader = Loader(
        client,
        specs,
        selection,
        parts={path: int(info.get("parts", 0)) for path, info in files.items()},
        workers=workers,
        replay_oplog=bool(manifest.details.get("point_in_time")) and selection.whole,
        progress=progress,
        before_oplog=check,
        expected_documents=plan.planned_counts(manifest, selection)["documents"],
    )
    result = loader.run(open_backup(bucket, manifest, generation, *keys), where)
    if request.test_mode and problems:
        raise IntegrityError(
            f"test restore of {manifest.location.run_id} does not match its manifest: "
            + "; ".join(problems[:10])
        )
    return plan.outcome(
        manifest,
        bucket,
        request,
        selection,
        verified=not problems,
        counts=result.inserted,
        notes=_load_notes(result, problems),
        consistent_time=manifest.details.get("consistent_time"),
        oplog_applied=result.oplog_applied,
        duplicates_skipped=result.duplicates,
        problems=problems,
    )


def _load_notes(result: LoadResult, problems: list[str]) -> list[str]:
    notes = [f"mismatch: {p}" for p in problems]
    if result.duplicates:
        notes.append(f"{result.duplicates} duplicate documents in the dump were skipped")
    return notes


def _generation(bucket: Bucket, object_name: str, where: str) -> int:
    blob = bucket.get_blob(object_name)
    if blob is None:
        raise BackupNotFound(f"{where} is missing although its manifest lists it")
    return int(blob.generation or 0)


def _compare(
    client: MongoClient[dict[str, Any]],
    manifest: Manifest,
    specs: Mapping[str, CollectionSpec],
    selection: Selection,
    counted: LoadResult | None,
) -> list[str]:
    """Restored collections against the manifest.

    After a restore, the inserts' own counts (inserted plus duplicates the
    dump held twice) against the manifest's, without reading the data again;
    in test mode (``counted`` None), every document's hash and the indexes.
    """
    problems = []
    for namespace, info in (manifest.details.get("collections") or {}).items():
        spec = specs[namespace]
        if spec.kind == "view" or namespace not in selection.namespaces:
            continue
        db, name = selection.target(namespace)
        if counted is None:
            restored = verify.hash_collection(client, db, spec.stored_as(name))
            count, digest = restored.count, restored.hexdigest
        else:
            count = counted.inserted.get(namespace, 0)
            count += counted.duplicates_by_namespace.get(namespace, 0)
            digest = info["content_hash"]
        if count != info["count"]:
            problems.append(f"{namespace}: {count} documents restored, {info['count']} backed up")
        elif digest != info["content_hash"]:
            problems.append(f"{namespace}: restored documents differ from the backed-up ones")
        if counted is None:
            wanted = {str(i["name"]) for i in spec.indexes}
            missing = wanted - {str(i["name"]) for i in client[db][name].list_indexes()}
            if missing:
                problems.append(f"{namespace}: indexes missing after restore: {sorted(missing)}")
    return problems


def _drop_scratch(client: MongoClient[dict[str, Any]], scratch_names: list[str]) -> None:
    for scratch in scratch_names:
        try:
            client.drop_database(scratch)
            log.info("dropped scratch database %s", scratch)
        except Exception:  # cleanup must not hide the restore's own outcome
            log.exception("could not drop scratch database %s; drop it by hand", scratch)
