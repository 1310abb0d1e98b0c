"""Checking documents against a manifest: in a database (after an import), or in the export's files.

Counts are per collection group (see :mod:`shared.firestore.exportfile`).
In a database they come from collection-group ``COUNT`` aggregations, which
Firestore answers from its indexes without reading the documents. After an
import, the documents' contents are compared with the export's as well
(:mod:`shared.firestore.contents`): equal counts do not make equal documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from shared.errors import IntegrityError
from shared.firestore import admin, contents, exportfile, references
from shared.firestore.backup_record import EXPORT_FOLDER
from shared.firestore.restore import resolve
from shared.firestore.restore_record import PendingImport
from shared.manifest import Manifest

if TYPE_CHECKING:
    from google.cloud.firestore import Client
    from google.cloud.storage import Bucket

DataClient = Callable[[str, str], "Client"]


def data_client(project: str, database: str) -> Client:
    """A Firestore data client (honours ``FIRESTORE_EMULATOR_HOST``, as the library does)."""
    from google.cloud import firestore

    return firestore.Client(project=project, database=database)


def count_documents(client: Client, collection_ids: Iterable[str], where: str) -> dict[str, int]:
    """Documents per collection group in ``client``'s database (``where`` names it in errors)."""
    with admin.translate_errors(f"counting documents in {where}"):
        return {cid: _count(client, cid) for cid in sorted(collection_ids)}


def _count(client: Client, collection_id: str) -> int:
    query: Any = client.collection_group(collection_id).count()  # the stubs mistype count()
    return int(query.get()[0][0].value)


def _export(job: PendingImport, state_bucket: Bucket) -> tuple[Bucket, str]:
    """The bucket (through the state bucket's client) and prefix of the export imported."""
    name, _, prefix = job.input_uri_prefix.removeprefix("gs://").partition("/")
    return state_bucket.client.bucket(name), prefix.rstrip("/")


def rewrite_pass(job: PendingImport, state_bucket: Bucket, client: Client) -> references.Pass:
    bucket, prefix = _export(job, state_bucket)
    return references.Pass(bucket, prefix, job.collection_ids, client)


def with_contents(
    result: Mapping[str, Any],
    job: PendingImport,
    state_bucket: Bucket,
    client: Client,
    sample_limit: int,
) -> dict[str, Any]:
    """``result`` (the count check of an import) with the contents check added to it.

    Verified only if both agree; the contents check's figures (documents
    compared, sample or not, missing and differing paths) go into
    ``details.contents``, the rewrite pass's counts into ``details.references``.
    """
    bucket, prefix = _export(job, state_bucket)
    moved_to = job.database_name if job.rewrite_references else None
    wanted = contents.expected(bucket, prefix, job.collection_ids, sample_limit, moved_to)
    check = contents.compare(client, wanted)
    details = {**result["details"], "contents": check}
    if job.rewrite_references:
        details["references"] = dict(job.rewrite)
    verified = bool(check["verified"]) and result["verified"] is not False
    return {**result, "verified": verified, "details": details}


def reference_note(job: PendingImport) -> str:
    """What the restored copy's references point at, for the operator."""
    if job.rewrite_references:
        done = references.RewriteState.from_json(job.rewrite)
        return (
            f"{done.references_rewritten} references in {done.documents_rewritten} of "
            f"{done.documents_read} imported documents were pointed from the source "
            f"database at {job.database_name}"
        )
    return (
        "References keep the project and database they had in the export, as the import "
        f"writes them; where that is not {job.database_name}, rewrite_references points "
        "them at it."
    )


def mismatches(expected: Mapping[str, int], found: Mapping[str, int]) -> dict[str, str]:
    """``{collection: "expected E, found F"}`` for every group whose counts differ."""
    return {
        cid: f"expected {expected.get(cid, 0)}, found {found.get(cid, 0)}"
        for cid in sorted(set(expected) | set(found))
        if expected.get(cid, 0) != found.get(cid, 0)
    }


@dataclass(frozen=True)
class ExportCheck:
    """The result of reading an export in place and comparing it with its manifest."""

    backup: str
    verified: bool
    counts: Mapping[str, int]
    expected: Mapping[str, int]
    problems: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "backup": self.backup,
            "verified": self.verified,
            "counts": dict(self.counts),
            "expected": dict(self.expected),
            "problems": list(self.problems),
            "details": dict(self.details),
        }


def check_backup(bucket: Bucket, day: date | None, tier: str | None = None) -> ExportCheck:
    """The guide's ``--date``/``--type`` resolved to an export, checked in place (no import)."""
    _, manifest = resolve(bucket, day, tier)
    return check_export(bucket, manifest)


def _export_folder(bucket: Bucket, manifest: Manifest) -> tuple[Bucket, str]:
    """Where an export's files are: its run's folder, or where an imported export lies."""
    if not manifest.details.get("imported"):
        return bucket, manifest.location.path(EXPORT_FOLDER)
    name, _, folder = str(manifest.source["output_uri_prefix"]).removeprefix("gs://").partition("/")
    return bucket.client.bucket(name), folder


def check_export(bucket: Bucket, manifest: Manifest) -> ExportCheck:
    """Read the export's files (no import) and compare documents and checksums with ``manifest``.

    A damaged file is reported as a problem (``verified`` False) rather than
    raised, so the caller gets one complete answer.
    """
    where = f"gs://{bucket.name}/{manifest.location.manifest_path}"
    try:
        contents = exportfile.read_export(*_export_folder(bucket, manifest))
    except IntegrityError as exc:
        return ExportCheck(where, False, {}, dict(manifest.counts), (str(exc),))
    differ = mismatches(manifest.counts, contents.collections) if manifest.counts else {}
    problems = [f"{cid}: {text}" for cid, text in differ.items()]
    recorded = {a.path: a for a in manifest.artifacts}
    for item in contents.files:
        artifact = recorded.pop(f"{EXPORT_FOLDER}/{item.path}", None)
        if artifact is None:
            problems.append(f"{item.path} is not listed in the manifest")
        elif (artifact.size, artifact.crc32c) != (item.size, item.crc32c) or (
            artifact.sha256 and artifact.sha256 != item.sha256
        ):
            problems.append(f"{item.path} differs from the manifest's checksums")
    problems.extend(f"{path} is listed in the manifest but missing" for path in recorded)
    details: dict[str, Any] = {
        "documents": contents.documents,
        "files": len(contents.files),
        "bytes": contents.size,
    }
    if not manifest.counts:
        details["note"] = "the manifest records no per-collection counts to compare with"
    return ExportCheck(
        where,
        not problems,
        dict(contents.collections),
        dict(manifest.counts),
        tuple(problems),
        details,
    )
