"""The restore's writing pass: collections, documents, indexes, views, then the oplog.

Runs only after :func:`shared.mongodb.verify.verify_archive` accepted the same
object generation. Order follows mongorestore: each collection is created with
its options before its documents (a collation or a capped size cannot be added
later), documents are inserted as raw BSON without validation (a backup must
restore what was there, even documents a validator added later would refuse),
indexes are built once the data is in (faster than maintaining them during
the inserts), views come last, and the oplog is replayed onto the result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import BulkWriteError

from shared.mongodb import bsonio, names, replay
from shared.mongodb.archive import drain, members
from shared.mongodb.metadata import CollectionSpec
from shared.mongodb.pipeline import ArchiveStream
from shared.restoring import Progress

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
PROGRESS_SECONDS = 10.0


@dataclass
class LoadResult:
    inserted: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    oplog_applied: int = 0
    oplog_skipped: int = 0


class Loader:
    """Writes one archive into ``db_map``'s target databases (source name → target name)."""

    def __init__(
        self,
        client: MongoClient[dict[str, Any]],
        specs: Mapping[str, CollectionSpec],
        db_map: Mapping[str, str],
        *,
        replay_oplog: bool,
        progress: Progress,
        before_oplog: Callable[[], None] = lambda: None,
    ) -> None:
        self._client = client
        self._specs = specs
        self._by_file = {s.data_path: s for s in specs.values() if s.data_path}
        self._map = db_map
        self._replay = replay_oplog
        self._progress = progress
        self._before_oplog = before_oplog
        self._replayer = replay.Replayer(client, db_map)
        self._stage = "start"
        self._last_report = time.monotonic()
        self.result = LoadResult()

    def run(self, stream: ArchiveStream, where: str) -> LoadResult:
        for member, reader in members(stream.plaintext, where):
            if member.path == names.OPLOG:
                self._finish_data()
                if self._replay:
                    self._apply_oplog(reader, member.name)
            elif member.path.endswith(names.BSON_SUFFIX):
                self._create_collections()
                self._insert(self._by_file[member.path], reader, member.name)
        self._finish_data()
        drain(stream.plaintext)
        self.result.oplog_applied = self._replayer.applied
        self.result.oplog_skipped = self._replayer.skipped
        return self.result

    def _target(self, spec: CollectionSpec) -> Any:
        return self._client[self._map[spec.db]]

    def _create_collections(self) -> None:
        if self._stage != "start":
            return
        for spec in self._specs.values():
            if spec.kind != "view":
                self._target(spec).command({"create": spec.name, **spec.options})
        self._stage = "data"
        self._progress.update(step="inserting documents", collections=len(self._specs))

    def _insert(self, spec: CollectionSpec, reader: Any, name: str) -> None:
        collection = self._target(spec)[spec.source_collection]
        for data, offsets in bsonio.document_batches(reader, name):
            batch = [RawBSONDocument(bytes(doc)) for doc in bsonio.documents(data, offsets)]
            try:
                collection.insert_many(batch, ordered=False, bypass_document_validation=True)
                inserted = len(batch)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors) or exc.details.get(
                    "writeConcernErrors"
                ):
                    raise
                inserted = int(exc.details.get("nInserted", 0))
                self.result.duplicates += len(errors)
            self.result.inserted[spec.namespace] = (
                self.result.inserted.get(spec.namespace, 0) + inserted
            )
            self._report(spec.namespace)

    def _finish_data(self) -> None:
        if self._stage == "done":
            return
        self._create_collections()
        for spec in self._specs.values():
            indexes = [
                {k: v for k, v in index.items() if k != "ns"}
                for index in spec.indexes
                if index.get("name") != "_id_"
            ]
            if indexes and spec.kind != "view":
                self._progress.update(step=f"building {len(indexes)} indexes of {spec.namespace}")
                self._target(spec).command({"createIndexes": spec.name, "indexes": indexes})
        for spec in self._specs.values():
            if spec.kind == "view":
                self._target(spec).command({"create": spec.name, **spec.options})
        self._stage = "done"
        self._before_oplog()

    def _apply_oplog(self, reader: Any, name: str) -> None:
        self._progress.update(step="replaying the oplog")
        for data, offsets in bsonio.document_batches(reader, name):
            for entry in replay.entries(data, offsets):
                self._replayer.apply(entry)

    def _report(self, namespace: str) -> None:
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_SECONDS:
            self._last_report = now
            total = sum(self.result.inserted.values())
            self._progress.update(step="inserting documents", namespace=namespace, documents=total)
