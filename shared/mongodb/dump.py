"""Dumping collections into the archive: mongodump's phases I and II, with pymongo only.

Phase I lists every namespace with its options and indexes and writes all
metadata files first, so a restore reading the stream knows how to create a
collection (capped, validator, collation) before its first document arrives.
Phase II reads collections in parallel, largest first (as mongodump
schedules them), with ``find_raw_batches``: documents are never decoded, only
delimited, hashed and counted, and go to the archive in bounded parts. Each
collection is read in ``_id`` order so that a read cut by a server outage
(a failover, a pause) resumes after the last ``_id`` dumped (:mod:`.outage`).

A collection dropped while the dump runs does not fail the dump: what was read
is kept, counted and hashed, and the collection is reported as dropped (the
captured oplog ends with its drop, so a point-in-time restore agrees).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import bson
from pymongo import MongoClient
from pymongo.errors import ConnectionFailure, OperationFailure

from shared.mongodb import names, outage
from shared.mongodb.archive import FileRecord
from shared.mongodb.bsonio import ContentHash, boundaries
from shared.mongodb.metadata import EXACT, CollectionSpec
from shared.mongodb.tarwriter import PartWriter, TarWriter

log = logging.getLogger(__name__)

# Server answers when a collection disappears under an open cursor.
GONE_CODES = frozenset(
    {26, 43, 175, 237}
)  # NamespaceNotFound, CursorNotFound, QueryPlanKilled, CursorKilled
BATCH_SIZE = 2000

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class CollectionResult:
    """What the archive holds for one namespace (``file`` is None for a view)."""

    spec: CollectionSpec
    file: FileRecord | None
    count: int
    content_hash: str
    dropped: bool = False


def database_names(client: MongoClient[dict[str, Any]], configured: str | None) -> list[str]:
    """``MONGODB_DB_NAME`` alone, or every user database (not admin, config, local)."""
    if configured:
        return [names.check_db_name(configured)]
    return sorted(db for db in client.list_database_names() if names.is_user_database(db))


def list_specs(
    client: MongoClient[dict[str, Any]], db_names: Sequence[str]
) -> list[CollectionSpec]:
    """Phase I: every dumped namespace with its options and indexes."""
    specs = []
    for db_name in db_names:
        database = client.get_database(db_name, codec_options=EXACT)
        for info in database.list_collections():
            name = str(info["name"])
            if not names.is_dumped(name):
                continue
            kind = str(info.get("type") or "collection")
            indexes = [] if kind == "view" else list(database[name].list_indexes())
            specs.append(CollectionSpec.from_listing(db_name, info, indexes))
    return specs


def write_metadata(tar: TarWriter, specs: Sequence[CollectionSpec]) -> list[FileRecord]:
    return [tar.add_file(spec.metadata_path, spec.to_json_bytes()) for spec in specs]


def dump_collections(
    client: MongoClient[dict[str, Any]],
    specs: Sequence[CollectionSpec],
    tar: TarWriter,
    *,
    parallel: int,
    outages: outage.Outage,
    progress: Progress | None = None,
) -> list[CollectionResult]:
    """Phase II: every collection's documents, ``parallel`` at a time, largest first.

    The order matters only when several workers share more collections than
    there are workers, so only then are they counted (a metadata lookup on
    MongoDB, a scan on some other servers).
    """
    order = list(specs)
    if 1 < parallel < len(specs):
        sizes = outages.call(
            "sizing collections", lambda: {s.namespace: _estimated_count(client, s) for s in specs}
        )
        order.sort(key=lambda spec: sizes[spec.namespace], reverse=True)
    log.info("dumping %d namespaces, %d at a time", len(order), parallel)

    def one(spec: CollectionSpec) -> CollectionResult:
        return _dump_one(client, spec, tar, outages, progress)

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="dump") as pool:
        results = list(pool.map(one, order))
    dropped = outages.call("listing collections", lambda: _missing(client, specs))
    return [
        CollectionResult(
            r.spec, r.file, r.count, r.content_hash, r.dropped or r.spec.namespace in dropped
        )
        for r in results
    ]


def _estimated_count(client: MongoClient[dict[str, Any]], spec: CollectionSpec) -> int:
    if spec.kind != "collection":
        return 0
    try:
        return int(client[spec.db][spec.name].estimated_document_count())
    except OperationFailure:
        return 0  # dropped since listing: dumped (empty) and reported as dropped


def _dump_one(
    client: MongoClient[dict[str, Any]],
    spec: CollectionSpec,
    tar: TarWriter,
    outages: outage.Outage,
    progress: Progress | None,
) -> CollectionResult:
    path = spec.data_path
    content = ContentHash()
    if path is None:  # a view: metadata only, as mongodump
        return CollectionResult(spec, None, 0, content.hexdigest)
    writer = PartWriter(tar, path)
    collection = client[spec.db][spec.source_collection]
    dropped = False
    last: list[Any] = []  # the last _id dumped, once there is one
    # Walking the _id index reads as fast as a collection scan; a server left to plan the
    # sort itself may sort in memory. Clustered collections have no such index.
    walk = [("_id", 1)] if any(i.get("name") == "_id_" for i in spec.indexes) else None
    try:
        while True:
            try:
                for raw in collection.find_raw_batches(
                    outage.after(last[0]) if last else {},
                    sort=[("_id", 1)],
                    hint=walk,
                    batch_size=BATCH_SIZE,
                ):
                    batch = cast(bytes, raw)  # raw batches are the documents' bytes
                    offsets = boundaries(batch, f"{spec.namespace} (from the server)")
                    content.add(batch, offsets)
                    writer.write(batch, offsets)
                    last[:] = [_id_of(batch, offsets)]
                    outages.ok()
                    if progress is not None:
                        progress(spec.namespace, content.count)
                break
            except ConnectionFailure as exc:
                outages.failed(exc, f"dumping {spec.namespace}")
    except OperationFailure as exc:
        if exc.code not in GONE_CODES or _exists(client, spec):
            writer.discard()
            raise
        dropped = True
        log.warning(
            "collection %s was dropped during the dump after %d documents; keeping those",
            spec.namespace,
            content.count,
            extra={"fields": {"namespace": spec.namespace, "documents": content.count}},
        )
    except BaseException:  # the part buffer goes back to the pool
        writer.discard()
        raise
    record = writer.close()
    log.info(
        "dumped %s: %d documents, %d bytes",
        spec.namespace,
        content.count,
        record.size,
        extra={
            "fields": {
                "namespace": spec.namespace,
                "documents": content.count,
                "bytes": record.size,
            }
        },
    )
    return CollectionResult(spec, record, content.count, content.hexdigest, dropped)


def _id_of(batch: bytes, offsets: list[int]) -> Any:
    """The ``_id`` of the last document of a batch, decoded exactly (to resume after it)."""
    last = bson.decode(memoryview(batch)[offsets[-2] : offsets[-1]], EXACT)
    return last["_id"]


def _exists(client: MongoClient[dict[str, Any]], spec: CollectionSpec) -> bool:
    return spec.name in client[spec.db].list_collection_names(filter={"name": spec.name})


def _missing(client: MongoClient[dict[str, Any]], specs: Sequence[CollectionSpec]) -> set[str]:
    """Namespaces listed in phase I that no longer exist after phase II."""
    present: set[str] = set()
    for db_name in {spec.db for spec in specs}:
        present.update(f"{db_name}.{name}" for name in client[db_name].list_collection_names())
    gone = {spec.namespace for spec in specs} - present
    for namespace in sorted(gone):
        log.warning("collection %s was dropped during the dump", namespace)
    return gone
