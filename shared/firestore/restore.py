"""Restore start: resolve the export, then plan the import, refuse it, or start it -- never wait.

The guide's forms, as ``dr-restore`` request fields: ``date`` (and ``type``)
pick the export; ``target_project`` and ``target_database`` say where to
import (default: the configured project and database); ``collection_ids``
imports a subset; ``test_mode`` imports into a scratch database that is
verified against the export and deleted; ``dry_run`` only plans;
``rewrite_references`` points references into the source database at the
destination after the import (:mod:`shared.firestore.references`: the import
itself leaves them pointing at the source).

Safety rules, enforced here whoever calls:

* Only a complete, successful export is imported. A failed, cancelled or
  still-running export of the requested date is refused, naming the run and
  why (a partial export cannot be imported).
* Importing into the production database (the configured project's
  configured database) requires ``confirm`` equal to that project's id, and
  into another database that holds documents ``confirm`` equal to
  ``<project>/<database>`` (:func:`production_name`, the one rule).
* A collection subset must be collections the export holds, and Firestore
  imports a subset only from an export of specific collections.

An import overwrites documents that have the same id and leaves every other
document as it is; every plan and report says so. Starting returns at once
with the operation recorded (:mod:`shared.firestore.restore_record`); the
restore completion (:mod:`shared.firestore.restore_completion`) ends it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from shared import catalog
from shared.config import FirestoreSettings
from shared.errors import BackupNotFound, DRError, RefusedError, RequestError
from shared.firestore import admin, restore_record
from shared.firestore.request import TARGET, FirestoreRestore
from shared.firestore.restore_record import PendingImport
from shared.manifest import Manifest
from shared.target import RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.firestore_admin_v1 import FirestoreAdminClient
    from google.cloud.storage import Bucket

    from shared.restore.status import StatusStore

log = logging.getLogger(__name__)

IMPORT_NOTE = (
    "A Firestore import overwrites documents that have the same id and leaves every "
    "other document as it is: documents created after the export are not removed."
)


@dataclass(frozen=True)
class RestoreStarted:
    """An import under way: the restore completion step ends it (status, lock, report)."""

    request_id: str
    mode: str
    backup: str
    destination: str
    step: str
    operation: str


def resolve(
    bucket: Bucket, day: date | None, tier: str | None
) -> tuple[catalog.CatalogEntry, Manifest]:
    """The export to import; a clear refusal when that date has only unusable runs."""
    exports = catalog.Catalog(bucket, TARGET)
    try:
        entry = exports.resolve(day, tier)
    except BackupNotFound as exc:
        unusable = [e for e in exports.entries(tier) if day and e.time.date() == day and not e.ok]
        if not unusable:
            raise
        reasons = "; ".join(
            f"run {e.backup_id} is incomplete (its export is still running or never finished)"
            if e.manifest is None
            else f"run {e.backup_id} failed: {e.manifest.error}"
            for e in unusable
        )
        raise BackupNotFound(
            f"{exc}. The export(s) of {day} cannot be imported: {reasons}"
        ) from None
    assert entry.manifest is not None
    return entry, entry.manifest


def production_name(request: FirestoreRestore, settings: FirestoreSettings) -> str | None:
    """What ``confirm`` must say for this request to go ahead; ``None`` when nothing is at risk.

    The one production rule, asked by the dispatcher and by
    :func:`start_restore` alike. The configured database is production: its
    confirm is the project id (the guide's form). Another database that
    already holds documents is overwritten too (an import replaces same-id
    documents): its confirm is ``<project>/<database>``. A test restore
    writes only to a scratch database and needs none.
    """
    if request.test_mode:
        return None
    project = request.target_project or settings.project_id
    database = request.target_database or settings.database
    if project == settings.project_id and database == settings.database:
        return settings.project_id
    return f"{project}/{database}" if _holds_documents(project, database) else None


def _holds_documents(project: str, database: str) -> bool:
    """Whether the destination database exists and has a collection."""
    from google.api_core import exceptions

    from shared.firestore.verify import data_client

    try:
        return any(True for _ in data_client(project, database).collections())
    except exceptions.NotFound:
        return False


def _refusal(database: str, confirm: str, settings: FirestoreSettings) -> str:
    what = (
        f"the production database {database}"
        if confirm == settings.project_id
        else f"{database}, which already holds documents,"
    )
    return (
        f"importing into {what} overwrites its documents with the export's; send "
        f'"confirm": "{confirm}" to go ahead, or use test_mode or another target_database'
    )


def start_restore(
    request: FirestoreRestore,
    *,
    settings: FirestoreSettings,
    store: StatusStore,
    request_id: str,
    bucket: Bucket,
    client: FirestoreAdminClient,
    now: datetime,
) -> RestoreOutcome | RestoreStarted:
    """Plan (``dry_run``: returns the plan) or start the import (returns once it is started)."""
    _, manifest = resolve(bucket, request.day, request.tier)
    backup = f"gs://{bucket.name}/{manifest.location.manifest_path}"
    exported = tuple(manifest.source.get("collection_ids") or ())
    _check_subset(request.collection_ids, exported, manifest)
    project = request.target_project or settings.project_id
    confirm = production_name(request, settings)
    unconfirmed = confirm if confirm is not None and request.confirm != confirm else None
    source = admin.require_database(
        client,
        admin.database_name(settings.project_id, settings.database),
        "it is the configured FIRESTORE_DATABASE",
    )
    database = (
        f"dr-test-{now:%Y%m%d%H%M}-{secrets.token_hex(2)}"
        if request.test_mode
        else request.target_database or settings.database
    )
    job = _job(request_id, request, manifest, backup, project, database, source.location, now)
    if request.rewrite_references and job.database_name == manifest.source.get("database"):
        raise RequestError(
            f"rewrite_references has nothing to do: {job.database_name} is the database the "
            "export was taken from, so its references already point into it"
        )
    plan = _plan(job, manifest, unconfirmed)
    if request.dry_run:
        return RestoreOutcome(
            TARGET,
            "plan",
            backup,
            job.database_name,
            None,
            counts=dict(job.expected),
            notes=_notes(manifest),
            plan=plan,
        )
    if unconfirmed is not None:
        raise RefusedError(_refusal(job.database_name, unconfirmed, settings), confirm=unconfirmed)
    if not request.test_mode:
        admin.require_database(
            client,
            job.database_name,
            "create it first (gcloud firestore databases create) or choose another target_database",
        )
    generation = restore_record.create(store.bucket, job)
    try:
        operation = (
            admin.create_database(client, project, database, source.location)
            if request.test_mode
            else admin.start_import(
                client, job.database_name, job.input_uri_prefix, job.collection_ids
            )
        )
    except DRError:
        restore_record.remove(store.bucket, request_id)
        raise
    try:
        job, _ = restore_record.update(store.bucket, job, generation, operation=operation)
    except DRError as exc:  # it runs: the completion step finds it (or re-issues the step)
        log.warning("%s started, but its name was not recorded (%s)", operation, exc)
    store.progress(request_id).update(
        step=job.step,
        operation=operation,
        destination=job.database_name,
        backup=backup,
    )
    log.info(
        "firestore %s of %s into %s started: %s", job.mode, backup, job.database_name, operation
    )
    return RestoreStarted(request_id, job.mode, backup, job.database_name, job.step, operation)


def _check_subset(wanted: tuple[str, ...], exported: tuple[str, ...], manifest: Manifest) -> None:
    if not wanted:
        return
    if not exported:
        raise RequestError(
            "this export holds all collections, and Firestore imports specific collections only "
            "from an export of specific collections (FIRESTORE_COLLECTION_IDS): omit "
            "collection_ids to import the whole export"
        )
    missing = sorted(set(wanted) - set(exported))
    if missing:
        raise RequestError(
            f"collection_ids {', '.join(missing)} are not in export "
            f"{manifest.location.run_id}, which holds {', '.join(exported)}"
        )


def _job(
    request_id: str,
    request: FirestoreRestore,
    manifest: Manifest,
    backup: str,
    project: str,
    database: str,
    location: str,
    now: datetime,
) -> PendingImport:
    wanted = request.collection_ids
    expected = {c: n for c, n in manifest.counts.items() if not wanted or c in wanted}
    total = manifest.details.get("progress_documents")
    return PendingImport(
        request_id=request_id,
        mode="test" if request.test_mode else "restore",
        backup=backup,
        input_uri_prefix=str(manifest.source["output_uri_prefix"]),
        project=project,
        database=database,
        location=location,
        collection_ids=wanted,
        expected=expected,
        expected_documents=sum(expected.values())
        if expected
        else (None if wanted or total is None else int(total)),
        step="create_database" if request.test_mode else "import",
        started=now,
        step_started=now,
        rewrite_references=request.rewrite_references,
    )


def _notes(manifest: Manifest) -> tuple[str, ...]:
    consistency = manifest.source.get("consistency")
    return (IMPORT_NOTE, *([f"The export is a {consistency}."] if consistency else []))


def _plan(job: PendingImport, manifest: Manifest, confirm: str | None) -> tuple[str, ...]:
    groups = ", ".join(f"{c} ({n})" for c, n in sorted(job.expected.items())) or "as exported"
    lines = [
        f"export {manifest.location.run_id} ({manifest.location.tier}, "
        f"{manifest.started:%Y-%m-%d %H:%M} UTC): {job.input_uri_prefix}",
        f"collection groups: {groups}",
    ]
    if job.mode == "test":
        lines.append(
            f"create scratch database {job.database_name} in {job.location}, import "
            "there, verify it, then delete it"
        )
    else:
        lines.append(
            f"import into {job.database_name}: same-id documents are overwritten, "
            "others are left as they are"
        )
    if job.rewrite_references:
        lines.append(
            f"then point references into {manifest.source.get('database')} at "
            f"{job.database_name} (a client-side pass over the imported documents)"
        )
    lines.append(
        "verify: counts per collection group, and each document's contents against the export"
    )
    if confirm is not None:
        lines.append(f'this destination holds data: the request needs "confirm": "{confirm}"')
    return tuple(lines)
