"""Checking an archive against its manifest, and a restored database against the archive.

:func:`verify_archive` is the restore's first pass: it reads the whole archive
(download, decryption, decompression, tar) and checks every file's size and
SHA-256, every collection's document count and content hash, the order of
parts, that every oplog entry can be replayed, and the stored object's own
SHA-256, all against the manifest. Only then does the second pass write. Two
passes over the network cost time, but keep memory bounded and guarantee that
a damaged, cut or wrongly keyed archive is refused before the first write;
staging into a scratch database and renaming would instead write twice and
need renames across databases, which not every server offers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from pymongo import MongoClient

from shared.errors import IntegrityError
from shared.manifest import Manifest
from shared.mongodb import names, replay
from shared.mongodb.archive import drain, members
from shared.mongodb.bsonio import MAX_DOCUMENT, ContentHash, boundaries, document_batches
from shared.mongodb.metadata import CollectionSpec
from shared.mongodb.pipeline import ArchiveStream

MAX_PROBLEMS = 10


@dataclass
class _File:
    sha256: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    parts: int = 0
    content: ContentHash | None = None


def verify_archive(
    stream: ArchiveStream, manifest: Manifest, where: str
) -> dict[str, CollectionSpec]:
    """Read ``stream`` to its end; IntegrityError listing every mismatch. Returns the metadata."""
    expected = manifest.details.get("files") or {}
    replayable = bool(manifest.details.get("point_in_time"))
    seen: dict[str, _File] = {}
    specs: dict[str, CollectionSpec] = {}
    for member, reader in members(stream.plaintext, where):
        record = seen.setdefault(member.path, _File())
        if member.part is not None and member.part != record.parts + 1:
            raise IntegrityError(
                f"{where}: {member.name} arrives where part {record.parts + 1} belongs"
            )
        record.parts = member.part or 0
        if member.path.endswith(names.BSON_SUFFIX):
            record.content = record.content or ContentHash()
            _hash_documents(reader, member.name, record, member.path == names.OPLOG and replayable)
        else:
            if member.size > MAX_DOCUMENT:
                raise IntegrityError(f"{where}: {member.name} is too large for a metadata file")
            data = reader.read()
            _feed(record, data)
            if member.path.endswith(names.METADATA_SUFFIX):
                db = member.path.split("/", 1)[0]
                spec = CollectionSpec.from_json_bytes(db, data, f"{where}: {member.path}")
                specs[spec.namespace] = spec
    drain(stream.plaintext)
    stream.check_stored(manifest.artifacts[0], where)
    problems = _compare_files(expected, seen) + _compare_collections(manifest, seen)
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS])
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise IntegrityError(f"{where} does not match its manifest: {shown}{more}")
    return specs


def _feed(record: _File, data: bytes | memoryview) -> None:
    record.sha256.update(data)
    record.size += len(data)


def _hash_documents(reader: Any, name: str, record: _File, check_oplog: bool) -> None:
    content = cast(ContentHash, record.content)
    for data, offsets in document_batches(reader, name):
        _feed(record, memoryview(data)[: offsets[-1]])
        content.add(data, offsets)
        if check_oplog:
            for entry in replay.entries(data, offsets):
                replay.check(entry)


def _compare_files(expected: Mapping[str, Any], seen: Mapping[str, _File]) -> list[str]:
    problems = [f"{path} is missing" for path in sorted(set(expected) - set(seen))]
    problems += [f"{path} is not in the manifest" for path in sorted(set(seen) - set(expected))]
    for path in sorted(set(expected) & set(seen)):
        want, got = expected[path], seen[path]
        if (got.size, got.sha256.hexdigest()) != (want["size"], want["sha256"]):
            problems.append(f"{path} differs ({got.size} bytes, manifest {want['size']})")
        elif got.parts != want.get("parts", 0):
            problems.append(f"{path} has {got.parts} parts, manifest {want.get('parts', 0)}")
    return problems


def _compare_collections(manifest: Manifest, seen: Mapping[str, _File]) -> list[str]:
    problems = []
    for namespace, info in (manifest.details.get("collections") or {}).items():
        record = seen.get(info.get("file") or "")
        if record is None or record.content is None:
            continue  # a view, or a missing file already reported
        if (record.content.count, record.content.hexdigest) != (
            info["count"],
            info["content_hash"],
        ):
            problems.append(
                f"{namespace} holds {record.content.count} documents with content hash "
                f"{record.content.hexdigest[:16]}…, manifest {info['count']} with "
                f"{str(info['content_hash'])[:16]}…"
            )
    return problems


def hash_collection(client: MongoClient[dict[str, Any]], db: str, collection: str) -> ContentHash:
    """The content hash of a collection as it is now on the server."""
    content = ContentHash()
    for raw in client[db][collection].find_raw_batches():
        batch = cast(bytes, raw)
        content.add(batch, boundaries(batch, f"{db}.{collection}"))
    return content
