"""Reference values after an import, and the opt-in pass that points them at the restored copy.

What the managed import does with them: it writes each document under the
database it imports into and leaves every value as exported, references
included. A reference keeps the project *and* the database it had in the
source, whether the destination is another database of the same project or
a database of another project. Users of the Firebase SDKs report exactly
such references into the source database as the result of Firebase's own
export/import, restore and clone workflows, and ask for the rewrite the
import does not do (github.com/firebase/firebase-js-sdk issue 8166; the SDK
logs an error for each such reference it reads, issue 10249); neither the
``importDocuments`` reference nor the export/import guide describes any
rewriting of values.

A restored copy that is meant to take production's place usually wants its
references to point into itself. ``rewrite_references`` asks for that: after
the import, a client-side pass (:func:`advance`) reads every document the
export holds from the destination, points each reference into the *source*
database (project and database of the export's keys) at the destination
instead, and writes back only the documents that changed, each with its
read update time as precondition. References into any other database are
left alone.

The pass is resumable: it walks the export's records in their stable order
(:func:`shared.firestore.exportfile.entity_records`) and its
:class:`RewriteState` (where it is, what it counted) is saved after every
batch, so a restarted step continues at the next batch instead of starting
over. Re-doing a batch whose save was lost (the step died between its commit
and its save) cannot rewrite anything twice: a reference already pointing at
the destination no longer matches the source. The counts then leave out that
one batch's rewrites; they never count a reference twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from shared.firestore import canonical, documents, entity, exportfile
from shared.firestore.canonical import Reference

if TYPE_CHECKING:
    from google.cloud.firestore import Client
    from google.cloud.storage import Bucket

BUDGET = 20_000  # documents one completion step reads before it saves and returns


def moved_values(value: Any, source: str, destination: str) -> Any:
    """A plain value (:mod:`shared.firestore.canonical`) with its references moved."""
    if isinstance(value, Reference):
        return Reference(canonical.moved(value.name, source, destination))
    if isinstance(value, list):
        return [moved_values(item, source, destination) for item in value]
    if isinstance(value, Mapping):
        return {key: moved_values(item, source, destination) for key, item in value.items()}
    return value


def move_stored(fields: Mapping[str, Any], source: str, destination: str) -> int:
    """Move the references of v1 ``Value`` protos in place; returns how many changed."""
    return sum(_move(value, source, destination) for value in fields.values())


def _move(value: Any, source: str, destination: str) -> int:
    kind = value.WhichOneof("value_type")
    if kind == "reference_value":
        new = canonical.moved(value.reference_value, source, destination)
        if new == value.reference_value:
            return 0
        value.reference_value = new
        return 1
    if kind == "array_value":
        return sum(_move(item, source, destination) for item in value.array_value.values)
    if kind == "map_value":
        return move_stored(value.map_value.fields, source, destination)
    return 0


@dataclass(frozen=True)
class RewriteState:
    """How far the pass is; ``file``/``record`` is the next export record (None: start)."""

    file: str | None = None
    record: int = 0
    done: bool = False
    documents_read: int = 0
    documents_missing: int = 0
    documents_rewritten: int = 0
    references_rewritten: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RewriteState:
        return cls(**data) if data else cls()


@dataclass(frozen=True)
class Pass:
    """One destination's rewrite: where the export is and what to keep to."""

    bucket: Bucket
    prefix: str
    collection_ids: tuple[str, ...]
    client: Client

    @property
    def destination(self) -> str:
        return documents.database(self.client)


def advance(
    work: Pass,
    state: RewriteState,
    save: Callable[[RewriteState], None],
    budget: int = BUDGET,
) -> RewriteState:
    """Rewrite up to ``budget`` documents from ``state`` on, calling ``save`` after each batch."""
    start = exportfile.Position(state.file, state.record) if state.file else None
    batch: list[tuple[exportfile.Position, str, str]] = []
    for read, item in enumerate(_documents(work, start)):
        if read == budget:
            break
        batch.append(item)
        if len(batch) == documents.BATCH:
            state = _batch(work, state, batch)
            save(state)
            batch = []
    else:
        state = replace(_batch(work, state, batch), file=None, record=0, done=True)
        save(state)
        return state
    if batch:
        state = _batch(work, state, batch)
    save(state)
    return state


def _documents(
    work: Pass, start: exportfile.Position | None
) -> Iterator[tuple[exportfile.Position, str, str]]:
    where = f"gs://{work.bucket.name}/{work.prefix}"
    for position, record in exportfile.entity_records(work.bucket, work.prefix, start):
        key = exportfile.document_key(record, where)
        if not work.collection_ids or key.collection_id in work.collection_ids:
            yield position, key.document_path, entity.key_database(key)


def _batch(
    work: Pass, state: RewriteState, batch: list[tuple[exportfile.Position, str, str]]
) -> RewriteState:
    sources = {path: source for _, path, source in batch}
    if not batch:
        return state
    changed: list[tuple[documents.Stored, Mapping[str, Any]]] = []
    missing = references = 0
    for path, stored in documents.read(work.client, sources):
        if stored is None:
            missing += 1
            continue
        moved = move_stored(stored.fields, sources[path], work.destination)
        if moved:
            changed.append((stored, stored.fields))
            references += moved
    documents.replace(work.client, changed)
    last = batch[-1][0]
    return replace(
        state,
        file=last.file,
        record=last.record + 1,
        documents_read=state.documents_read + len(batch),
        documents_missing=state.documents_missing + missing,
        documents_rewritten=state.documents_rewritten + len(changed),
        references_rewritten=state.references_rewritten + references,
    )
