"""The restore's writing pass: collections, documents, indexes, views, then the oplog.

Runs only after :func:`shared.mongodb.verify.verify_archive` accepted the same
object generation. Order follows mongorestore: each collection is created with
its options before its documents (a collation or a capped size cannot be added
later), documents are inserted as raw BSON without validation (a backup must
restore what was there, even documents a validator added later would refuse),
several collections and several batches of each at once (:mod:`.inserts`),
each collection's indexes are built as soon as its documents are in (faster
than maintaining them during the inserts), views come last, and the oplog is
replayed onto the result. Counts come from the inserts' own results.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import BulkWriteError

from shared.crypto import Readable
from shared.mongodb import bsonio, names, replay
from shared.mongodb.archive import Member, drain, members
from shared.mongodb.inserts import Workers, Writers
from shared.mongodb.metadata import CollectionSpec
from shared.mongodb.namespaces import Selection
from shared.mongodb.pipeline import ArchiveStream
from shared.target import Progress

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
PROGRESS_SECONDS = 10.0
INSERT_CHUNK = 2 * 1024 * 1024  # bytes of documents per insert_many


@dataclass
class LoadResult:
    inserted: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    duplicates_by_namespace: dict[str, int] = field(default_factory=dict)
    oplog_applied: int = 0
    oplog_skipped: int = 0


class Loader:
    """Writes the namespaces ``selection`` picks out of one archive, under their target names.

    ``parts`` is each data file's number of parts from the manifest (0: one
    whole member), so the loader knows when a collection's last batch is read.
    """

    def __init__(
        self,
        client: MongoClient[dict[str, Any]],
        specs: Mapping[str, CollectionSpec],
        selection: Selection,
        *,
        parts: Mapping[str, int],
        workers: Workers,
        replay_oplog: bool,
        progress: Progress,
        before_oplog: Callable[[], None] = lambda: None,
        expected_documents: int | None = None,
    ) -> None:
        self._client = client
        self._expected = expected_documents  # the manifest's count: the progress bar's end
        self._specs = {ns: spec for ns, spec in specs.items() if ns in selection.namespaces}
        self._by_file = {s.data_path: s for s in self._specs.values() if s.data_path}
        self._selection = selection
        self._parts = parts
        self._workers = workers
        self._replay = replay_oplog
        self._progress = progress
        self._before_oplog = before_oplog
        self._replayer = replay.Replayer(client, selection.databases)
        self._stage = "start"
        self._indexed: set[str] = set()
        self._lock = threading.Lock()
        self._last_report = time.monotonic()
        self.result = LoadResult()

    def run(self, stream: ArchiveStream, where: str) -> LoadResult:
        with contextlib.closing(Writers(self._workers)) as writers:
            for member, reader in members(stream.plaintext, where):
                if member.path == names.OPLOG:
                    self._finish_data(writers)
                    if self._replay:
                        self._apply_oplog(reader, member.name)
                elif member.path in self._by_file:
                    self._create_collections()
                    self._insert(writers, member, reader)
            self._finish_data(writers)
        drain(stream.plaintext)
        self.result.oplog_applied = self._replayer.applied
        self.result.oplog_skipped = self._replayer.skipped
        return self.result

    def _target(self, spec: CollectionSpec) -> tuple[Any, str]:
        """The target database and the collection's name there."""
        db, name = self._selection.target(spec.namespace)
        return self._client[db], name

    def _create_collections(self) -> None:
        if self._stage != "start":
            return
        for spec in self._specs.values():
            if spec.kind != "view":
                database, name = self._target(spec)
                database.command({"create": name, **spec.options})
        self._stage = "data"
        self._progress.update(step="inserting documents", collections=len(self._specs))

    def _insert(self, writers: Writers, member: Member, reader: Readable) -> None:
        spec = self._by_file[member.path]
        database, name = self._target(spec)
        collection = database[spec.stored_as(name)]
        in_order = bool(spec.options.get("capped"))  # which documents a capped one keeps
        for data, offsets in bsonio.document_batches(reader, member.name, INSERT_CHUNK):
            # Documents are cut out here, on the reading thread: the writer threads then
            # allocate only whole messages, and no batch is held twice while it waits.
            batch = [RawBSONDocument(bytes(doc)) for doc in bsonio.documents(data, offsets)]
            writers.insert(
                spec.namespace,
                functools.partial(self._insert_batch, spec.namespace, collection, batch),
                in_order=in_order,
            )
        if member.part is None or member.part == self._parts.get(member.path, 0):
            self._indexed.add(spec.namespace)
            writers.then(spec.namespace, functools.partial(self._build_indexes, spec))

    def _insert_batch(self, namespace: str, collection: Any, batch: list[RawBSONDocument]) -> None:
        duplicates = 0
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
            duplicates = len(errors)
        with self._lock:
            result = self.result
            result.inserted[namespace] = result.inserted.get(namespace, 0) + inserted
            if duplicates:
                result.duplicates += duplicates
                by_namespace = result.duplicates_by_namespace
                by_namespace[namespace] = by_namespace.get(namespace, 0) + duplicates
            self._report(namespace)

    def _build_indexes(self, spec: CollectionSpec) -> None:
        indexes = [
            {k: v for k, v in index.items() if k != "ns"}
            for index in spec.indexes
            if index.get("name") != "_id_"
        ]
        if indexes:
            with self._lock:
                self._progress.update(step=f"building {len(indexes)} indexes of {spec.namespace}")
            database, name = self._target(spec)
            database.command({"createIndexes": name, "indexes": indexes})

    def _finish_data(self, writers: Writers) -> None:
        if self._stage == "done":
            return
        self._create_collections()
        for spec in self._specs.values():
            if spec.kind != "view" and spec.namespace not in self._indexed:
                writers.then(spec.namespace, functools.partial(self._build_indexes, spec))
        writers.finish()
        for spec in self._specs.values():
            if spec.kind == "view":
                database, name = self._target(spec)
                database.command({"create": name, **spec.options})
        self._stage = "done"
        self._before_oplog()

    def _apply_oplog(self, reader: Readable, name: str) -> None:
        self._progress.update(step="replaying the oplog")
        for data, offsets in bsonio.document_batches(reader, name):
            for entry in replay.entries(data, offsets):
                self._replayer.apply(entry)

    def _report(self, namespace: str) -> None:
        """A progress update at most every PROGRESS_SECONDS (called under the lock)."""
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_SECONDS:
            self._last_report = now
            total = sum(self.result.inserted.values())
            self._progress.update(
                step="inserting documents",
                namespace=namespace,
                documents_done=total,
                **({} if self._expected is None else {"documents_total": self._expected}),
            )
