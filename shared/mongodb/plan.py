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
from shared.mongodb import namespaces
from shared.mongodb.namespaces import Selection
from shared.mongodb.request import TARGET, MongoRestoreRequest
from shared.target import RestoreOutcome

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

SCRATCH_INFIX = "_drtest_"
SYSTEM_DATABASES = frozenset({"admin", "local", "config"})
_EMPTY = "(no collections)"


def resolve(bucket: Bucket, prefix: str, request: MongoRestoreRequest) -> Manifest:
    """The backup the request's date, type and hour select (BackupNotFound if none)."""
    entry: CatalogEntry = Catalog(bucket, TARGET, prefix).resolve(
        request.day, request.tier, request.hour
    )
    assert entry.manifest is not None  # resolve returns successful backups only
    return entry.manifest


def database_map(manifest: Manifest, request: MongoRestoreRequest, token: str) -> Selection:
    """What this request restores, and where: its ``ns_*`` rules, ``target_db``, test mode."""
    sources = [str(db) for db in manifest.details.get("databases") or []]
    rules = namespaces.Rules.parse(
        request.ns_include, request.ns_exclude, request.ns_from, request.ns_to
    )
    everything = [*collections(manifest)] or [f"{db}.{_EMPTY}" for db in sources]
    chosen = namespaces.select(everything, rules, {})
    if not chosen.namespaces:
        raise RequestError(
            "ns_include/ns_exclude select nothing in this backup; it holds: " + ", ".join(sources)
        )
    targets = chosen.target_databases
    if request.test_mode:
        suffix = SCRATCH_INFIX + token
        rename = {db: db[: 63 - len(suffix)] + suffix for db in targets}
    elif request.target_db:
        if rules.renames:
            raise RequestError("give either target_db or ns_from/ns_to, not both")
        if len(targets) != 1:
            raise RequestError(
                "target_db needs a backup of one database, or an ns_include that picks one "
                f"(such as {targets[0]}.*); this one holds {len(targets)}: " + ", ".join(targets)
            )
        rename = {targets[0]: request.target_db}
    else:
        rename = {}
    selection = namespaces.select(everything, rules, rename) if rename else chosen
    system = sorted({db for db in selection.target_databases if db.lower() in SYSTEM_DATABASES})
    if system:
        raise RefusedError(f"a restore never writes into system database(s) {', '.join(system)}")
    return selection


def occupied_databases(client: MongoClient[dict[str, Any]], selection: Selection) -> set[str]:
    """The target databases that already hold collections: writing there needs ``confirm``."""
    return {db for db in selection.target_databases if client[db].list_collection_names()}


def production_name(
    manifest: Manifest,
    db_name: str | None,
    request: MongoRestoreRequest,
    occupied: Iterable[str] = (),
) -> str | None:
    """The database(s) holding data this request would write into, as ``confirm`` must name them.

    Production (the backup's own databases, the configured one) and any
    ``occupied`` database (one that already has collections), whatever the
    configuration calls it. Several are named comma-joined in sorted order
    (``"orders,shop"``).
    """
    if request.test_mode:
        return None
    production = {str(db) for db in manifest.details.get("databases") or []} | set(occupied)
    if db_name:
        production.add(db_name)
    hit = sorted(set(database_map(manifest, request, "").target_databases) & production)
    return ",".join(hit) or None


def collections(manifest: Manifest) -> dict[str, tuple[str, int]]:
    """Namespace → (type, count) from the manifest."""
    found = manifest.details.get("collections") or {}
    return {ns: (str(info["type"]), int(info.get("count", 0))) for ns, info in found.items()}


def existing_targets(
    client: MongoClient[dict[str, Any]], manifest: Manifest, selection: Selection
) -> dict[str, int]:
    """Target namespaces this restore writes that exist already, with their document counts."""
    found: dict[str, int] = {}
    listed: dict[str, set[str]] = {}
    for namespace in collections(manifest):
        if namespace not in selection.namespaces:
            continue
        target_db, name = selection.target(namespace)
        if target_db not in listed:
            listed[target_db] = set(client[target_db].list_collection_names())
        if name in listed[target_db]:
            found[f"{target_db}.{name}"] = int(client[target_db][name].estimated_document_count())
    return found


def plan_lines(manifest: Manifest, selection: Selection, existing: Mapping[str, int]) -> list[str]:
    """One line per namespace ("would write" / "would overwrite"), then the totals."""
    lines = []
    writes, overwrites = [0, 0], [0, 0]
    for namespace, (kind, count) in sorted(collections(manifest).items()):
        if namespace not in selection.namespaces:
            continue
        target = ".".join(selection.target(namespace))
        what = "a view" if kind == "view" else f"{count:,} documents"
        origin = f" from {namespace}" if target != namespace else ""
        if target in existing:
            lines.append(
                f"would overwrite {target} ({existing[target]:,} documents now) with {what}{origin}"
            )
            overwrites[0] += 1
            overwrites[1] += count
        else:
            lines.append(f"would write {target} ({what}){origin}")
            writes[0] += 1
            writes[1] += count
    for verb, (number, documents) in (("write", writes), ("overwrite", overwrites)):
        if number:
            noun = "collection" if number == 1 else "collections"
            lines.append(f"would {verb} {number:,} {noun}, {documents:,} documents")
    oplog = manifest.details.get("oplog") or {}
    if manifest.details.get("point_in_time") and selection.whole:
        consistent = manifest.details["consistent_time"]
        lines.append(f"would replay {oplog.get('entries', 0):,} oplog entries, to {consistent}")
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


def planned_counts(manifest: Manifest, selection: Selection) -> dict[str, int]:
    """What a plan would restore: the selected collections and their documents (manifest)."""
    found = collections(manifest)
    chosen = [found[namespace] for namespace in selection.namespaces if namespace in found]
    return {"collections": len(chosen), "documents": sum(count for _, count in chosen)}


def outcome(
    manifest: Manifest,
    bucket: Bucket,
    request: MongoRestoreRequest,
    selection: Selection,
    **fields: Any,
) -> RestoreOutcome:
    """The result record of ``request``; ``fields`` fill the outcome and its details."""
    mode = "plan" if request.dry_run else ("test" if request.test_mode else "restore")
    notes = []
    if not manifest.details.get("point_in_time"):
        note = manifest.details.get("point_in_time_note") or "no oplog was captured"
        notes.append(f"not point-in-time consistent: {note}")
    elif not selection.whole:
        notes.append(
            "not point-in-time consistent: single collections are selected or renamed, so the "
            "oplog is not replayed (the data is as of the dump)"
        )
    return RestoreOutcome(
        target=TARGET,
        mode=mode,
        backup=f"gs://{bucket.name}/{manifest.location.manifest_path}",
        destination=selection.describe(),
        verified=fields.pop("verified", None),
        counts=fields.pop("counts", None)
        or (planned_counts(manifest, selection) if mode == "plan" else {}),
        notes=tuple(notes) + tuple(fields.pop("notes", ())),
        plan=tuple(fields.pop("plan", ())),
        details={
            "databases": dict(selection.databases),
            "namespaces": dict(selection.namespaces),
            **fields,
        },
    )
