"""A mongodump directory (``mongodump --out DIR``) read from a tar stream.

The old scripts kept dump directories as they were or packed them with
``tar`` (``-z`` or not); ``dr import`` packs a plain directory into a tar on
the way, so all three arrive here as one tar stream. Inside, a database
directory holds ``<coll>.bson`` and ``<coll>.metadata.json`` (each ``.gz``
with ``mongodump --gzip``); the dump's root holds ``oplog.bson`` and
``prelude.json``. Whatever directories lie above the root (``dump/``, a
dated folder) are ignored: a file's database is its parent directory, and
the root is the directory above the first database seen. Other files, and
the ``admin``, ``config`` and ``local`` databases, are skipped.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from urllib.parse import unquote_plus

from shared.crypto import Readable
from shared.errors import IntegrityError, TruncatedDataError
from shared.legacy.layers import gunzip
from shared.legacy.tarstream import Documents, Event, WholeFile, collection_spec
from shared.mongodb import names
from shared.mongodb.bsonio import MAX_DOCUMENT, document_batches

GZIP_SUFFIX = ".gz"


def events(stream: io.BufferedReader, where: str) -> Iterator[Event]:
    """The dump's files as :mod:`.tarstream` events, in tar order."""
    root: tuple[str, ...] | None = None
    try:
        with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8") as tar:
            for info in tar:
                parts = PurePosixPath(info.name).parts
                name = parts[-1].removesuffix(GZIP_SUFFIX) if parts else ""
                if not info.isreg() or not name.endswith(
                    (names.BSON_SUFFIX, names.METADATA_SUFFIX)
                ):
                    continue
                is_oplog = name == names.OPLOG and (root is None or parts[:-1] == root)
                if not is_oplog and len(parts) >= 2:
                    root = root if root is not None else parts[:-2]
                content = tar.extractfile(info)
                assert content is not None  # regular files have content
                inside = f"{where}: {info.name}"
                reader = gunzip(content, inside) if parts[-1] != name else content
                yield from _file(reader, parts, name, is_oplog, inside)
    except (tarfile.TarError, EOFError) as exc:
        if isinstance(exc, EOFError) or "unexpected end" in str(exc):
            raise TruncatedDataError(f"{where}: the tar data ends early: cut short") from None
        raise IntegrityError(f"{where}: not a valid tar file ({exc})") from None


def _file(
    reader: Readable, parts: tuple[str, ...], name: str, is_oplog: bool, where: str
) -> Iterator[Event]:
    if is_oplog:
        path = names.OPLOG
    elif len(parts) >= 2 and names.is_user_database(parts[-2]):
        path = f"{names.check_db_name(parts[-2])}/{name}"
    else:
        return
    if path.endswith(names.METADATA_SUFFIX):
        data = reader.read(MAX_DOCUMENT + 1)
        if len(data) > MAX_DOCUMENT:
            raise IntegrityError(f"{where}: too large for a metadata file")
        stem = name.removesuffix(names.METADATA_SUFFIX)
        spec = collection_spec(parts[-2], unquote_plus(stem), "", data, where)
        yield WholeFile(spec.metadata_path, spec.to_json_bytes())
        return
    for data, offsets in document_batches(reader, where):
        yield Documents(path, data, offsets)
