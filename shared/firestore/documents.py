"""Reading and rewriting documents as Firestore stores them: raw v1 protos, not Python objects.

The client library's documents decode a reference into a ``DocumentReference``
of the client's own database and raise ``ValueError`` for a reference into any
other database, which is exactly what a restored copy holds (see
:mod:`shared.firestore.references`). So these calls go through the
library's generated API client (``Client._firestore_api``, with the request
metadata the library itself sends), which returns the stored values as they
are; the library still picks the endpoint, the emulator and the credentials.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.firestore import admin

if TYPE_CHECKING:
    from google.cloud.firestore import Client

BATCH = 300  # documents per read or commit (a commit takes at most 500 writes)


@dataclass(frozen=True)
class Stored:
    """A document as read: its path (``users/u1``), fields (v1 ``Value`` protos), update time."""

    path: str
    fields: Mapping[str, Any]
    update_time: Any


def database(client: Client) -> str:
    """``projects/P/databases/D``: the database ``client`` reads and writes."""
    return str(client._database_string)


def root(client: Client) -> str:
    """``projects/P/databases/D/documents``: the prefix of every document name."""
    return f"{database(client)}/documents"


def read(client: Client, paths: Iterable[str]) -> Iterator[tuple[str, Stored | None]]:
    """``(path, document or None if it does not exist)`` for each path, in batches."""
    from google.cloud.firestore_v1.types import Document

    batch: list[str] = []
    for path in paths:
        batch.append(path)
        if len(batch) == BATCH:
            yield from _read(client, batch, Document)
            batch = []
    if batch:
        yield from _read(client, batch, Document)


def _read(client: Client, paths: list[str], document_type: Any) -> Iterator[tuple[str, Any]]:
    prefix = root(client) + "/"
    found: dict[str, Stored] = {}
    with admin.translate_errors(f"reading {len(paths)} documents of {database(client)}"):
        responses = client._firestore_api.batch_get_documents(
            request={"database": database(client), "documents": [prefix + p for p in paths]},
            metadata=client._rpc_metadata,
        )
        for response in responses:
            if response.found.name:
                document = document_type.pb(response.found)
                path = document.name[len(prefix) :]
                found[path] = Stored(path, document.fields, document.update_time)
    for path in paths:
        yield path, found.get(path)


def replace(client: Client, documents: list[tuple[Stored, Mapping[str, Any]]]) -> None:
    """Write each document's new fields, only if it is unchanged since it was read.

    The precondition is the update time read: a document changed in between
    fails the commit (FAILED_PRECONDITION, a :class:`ConfigError`) instead of
    being overwritten with stale fields; the caller's next pass reads it again.
    """
    if not documents:
        return
    from google.cloud.firestore_v1.types import Document, Precondition, Write

    prefix = root(client) + "/"
    writes = [
        Write(
            update=Document(name=prefix + stored.path, fields=dict(fields)),
            current_document=Precondition(update_time=stored.update_time),
        )
        for stored, fields in documents
    ]
    with admin.translate_errors(f"rewriting {len(writes)} documents of {database(client)}"):
        client._firestore_api.commit(
            request={"database": database(client), "writes": writes},
            metadata=client._rpc_metadata,
        )
