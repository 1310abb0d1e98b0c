"""Verification by contents: each restored document against the export it came from.

For every document of the export (or of the requested collection groups) a
digest of its fields in canonical form (:mod:`shared.firestore.canonical`)
is computed from the export's files; the same digest is computed from the
document read back from the destination. A document that is missing or
whose digest differs fails the verification, whatever the counts say, and is
named in the result (the first :data:`SHOWN` of each kind).

The expectation follows the restore: without ``rewrite_references`` a
reference must still name the database it named in the export (that is what
the import writes); with it, a reference into the source database must name
the destination instead.

Reading a document costs one read. Up to ``sample_limit`` documents
(``FIRESTORE_VERIFY_SAMPLE``) every document is compared; above it, a sample
of exactly ``sample_limit`` documents: those whose path hashes lowest, a
choice that is uniform, the same on every run, and kept in bounded memory
while the export is streamed once. The result states which it was. The
sample bounds the reads from the destination; the export itself is streamed
whole either way, so this step takes time in proportion to the export's size.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.firestore import canonical, documents, entity, exportfile, references

if TYPE_CHECKING:
    from google.cloud.firestore import Client
    from google.cloud.storage import Bucket

SHOWN = 20


@dataclass(frozen=True)
class Expected:
    """Digests of the documents to compare, by path, out of ``documents`` in the export."""

    documents: int
    digests: Mapping[str, str]

    @property
    def sampled(self) -> bool:
        return len(self.digests) < self.documents


def _rank(path: str) -> int:
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "big")


def expected(
    bucket: Bucket,
    prefix: str,
    collection_ids: tuple[str, ...],
    sample_limit: int,
    moved_to: str | None = None,
) -> Expected:
    """Digests from the export at ``gs://bucket/prefix``; ``moved_to``: references rewritten."""
    where = f"gs://{bucket.name}/{prefix}"
    kept: list[tuple[int, str, str]] = []  # (-rank, path, digest): a max-heap of the lowest
    total = 0
    for _, record in exportfile.entity_records(bucket, prefix):
        key, fields = entity.decode(record, where)
        if collection_ids and key.collection_id not in collection_ids:
            continue
        total += 1
        if moved_to:
            fields = references.moved_values(fields, entity.key_database(key), moved_to)
        item = (-_rank(key.document_path), key.document_path, canonical.digest(fields))
        if len(kept) < sample_limit:
            heapq.heappush(kept, item)
        elif item > kept[0]:
            heapq.heapreplace(kept, item)
    return Expected(total, {path: digest for _, path, digest in kept})


def compare(client: Client, wanted: Expected) -> dict[str, Any]:
    """Read the wanted documents back from ``client``'s database; the check's result."""
    missing: list[str] = []
    differing: list[str] = []
    for path, stored in documents.read(client, sorted(wanted.digests)):
        if stored is None:
            missing.append(path)
        elif canonical.digest(canonical.fields_from_api(stored.fields)) != wanted.digests[path]:
            differing.append(path)
    compared = len(wanted.digests)
    return {
        "verified": not missing and not differing,
        "documents": wanted.documents,
        "compared": compared,
        "sample": wanted.sampled,
        "matched": compared - len(missing) - len(differing),
        "missing_count": len(missing),
        "differing_count": len(differing),
        "missing": missing[:SHOWN],
        "differing": differing[:SHOWN],
    }
