"""Before a restore writes: which backup, which target databases, and whether it is allowed.

Pure decisions plus read-only looks at the server, shared by the restore
itself, its dry run and the ``dr-restore`` dispatcher's checks, so all three
agree on what a request would do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient

from shared.catalog import Catalog, CatalogEntry
from shared.errors import RefusedError, RequestError
from shared.manifest import Manifest
from shared.mongodb.request import MongoRestoreRequest
from shared.restoring import RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

TARGET = "mongodb"
SCRATCH_INFIX = "_drtest_"
SYSTEM_DATABASES = frozenset({"admin", "local", "config"})


def resolve(bucket: Bucket, prefix: str, request: MongoRestoreRequest) -> Manifest:
    """The backup the request's date, type and hour select (BackupNotFound if none)."""
    entry: CatalogEntry = Catalog(bucket, TARGET, prefix).resolve(
        request.day, request.tier, request.hour
    )
    assert entry.manifest is not None  # resolve returns successful backups only
    return entry.manifest


def database_map(manifest: Manifest, request: MongoRestoreRequest, token: str) -> dict[str, str]:
    """Source database → target database for this request."""
    sources = [str(db) for db in manifest.details.get("databases") or []]
    if request.test_mode:
        suffix = SCRATCH_INFIX + token
        return {db: db[: 63 - len(suffix)] + suffix for db in sources}
    if request.target_db:
        if len(sources) != 1:
            raise RequestError(
                f"target_db needs a backup of one database; this one holds {len(sources)}: "
                + ", ".join(sources)
            )
        db_map = {sources[0]: request.target_db}
    else:
        db_map = {db: db for db in sources}
    system = sorted({db for db in db_map.values() if db.lower() in SYSTEM_DATABASES})
    if system:
        raise RefusedError(f"a restore never writes into system database(s) {', '.join(system)}")
    return db_map


def occupied_databases(client: MongoClient[dict[str, Any]], db_map: Mapping[str, str]) -> set[str]:
    """The target databases that already hold collections: writing there needs ``confirm``."""
    return {db for db in set(db_map.values()) if client[db].list_collection_names()}


def production_name(
    manifest: Manifest,
    db_name: str | None,
    request: MongoRestoreRequest,
    occupied: Iterable[str] = (),
) -> str | None:
    """The database(s) holding data this request would write into, as ``confirm`` must name them.

    Production (the backup's own databases, the configured one) and any
    ``occupied`` database (one that already has collections), whatever the
    configuration calls it.
    """
    if request.test_mode:
        return None
    production = {str(db) for db in manifest.details.get("databases") or []} | set(occupied)
    if db_name:
        production.add(db_name)
    hit = sorted(set(database_map(manifest, request, "").values()) & production)
    return ",".join(hit) or None


def namespaces(manifest: Manifest) -> dict[str, tuple[str, int]]:
    """Namespace → (type, count) from the manifest."""
    collections = manifest.details.get("collections") or {}
    return {ns: (str(info["type"]), int(info.get("count", 0))) for ns, info in collections.items()}


def existing_targets(
    client: MongoClient[dict[str, Any]], manifest: Manifest, db_map: Mapping[str, str]
) -> dict[str, int]:
    """Target namespaces this restore writes that exist already, with their document counts."""
    found: dict[str, int] = {}
    listed: dict[str, set[str]] = {}
    for namespace in namespaces(manifest):
        source_db, _, name = namespace.partition(".")
        target_db = db_map[source_db]
        if target_db not in listed:
            listed[target_db] = set(client[target_db].list_collection_names())
        if name in listed[target_db]:
            found[f"{target_db}.{name}"] = int(client[target_db][name].estimated_document_count())
    return found


def plan_lines(
    manifest: Manifest, db_map: Mapping[str, str], existing: Mapping[str, int]
) -> list[str]:
    lines = []
    for namespace, (kind, count) in sorted(namespaces(manifest).items()):
        source_db, _, name = namespace.partition(".")
        target = f"{db_map[source_db]}.{name}"
        what = "view" if kind == "view" else f"{count} documents"
        if target in existing:
            lines.append(f"drop {target} ({existing[target]} documents) and restore it ({what})")
        else:
            lines.append(f"restore {target} ({what})")
    oplog = manifest.details.get("oplog") or {}
    if manifest.details.get("point_in_time"):
        consistent = manifest.details["consistent_time"]
        lines.append(f"replay {oplog.get('entries', 0)} oplog entries, to {consistent}")
    return lines


def check_safety(
    request: MongoRestoreRequest, production: str | None, existing: Mapping[str, int]
) -> None:
    if production and request.confirm != production and not request.dry_run:
        raise RefusedError(
            f"this restore would overwrite production database {production!r} (or one that "
            "holds data); repeat its "
            f'name to confirm ("confirm": "{production}", --confirm {production}), or '
            "restore elsewhere with target_db, or use test mode",
            confirm=production,
        )
    if existing and not request.drop and not request.dry_run:
        names = ", ".join(sorted(existing)[:10])
        raise RefusedError(
            f"{len(existing)} collection(s) to restore already exist: {names}; set drop "
            "(--drop) to replace them, or choose another target_db"
        )


def _backup_counts(manifest: Manifest) -> dict[str, int]:
    """What a plan would restore: collections and documents, from the manifest."""
    found = namespaces(manifest)
    return {"collections": len(found), "documents": sum(count for _, count in found.values())}


def outcome(
    manifest: Manifest,
    bucket: Bucket,
    request: MongoRestoreRequest,
    db_map: Mapping[str, str],
    **fields: Any,
) -> RestoreOutcome:
    """The result record of ``request``; ``fields`` fill the outcome and its details."""
    mode = "plan" if request.dry_run else ("test" if request.test_mode else "restore")
    notes = []
    if not manifest.details.get("point_in_time"):
        note = manifest.details.get("point_in_time_note") or "no oplog was captured"
        notes.append(f"not point-in-time consistent: {note}")
    return RestoreOutcome(
        target=TARGET,
        mode=mode,
        backup=f"gs://{bucket.name}/{manifest.location.manifest_path}",
        destination=", ".join(f"{s} -> {t}" for s, t in db_map.items()),
        verified=fields.pop("verified", None),
        counts=fields.pop("counts", None) or (_backup_counts(manifest) if mode == "plan" else {}),
        notes=tuple(notes) + tuple(fields.pop("notes", ())),
        plan=tuple(fields.pop("plan", ())),
        details={"databases": dict(db_map), **fields},
    )
