"""mongodump's file names: which namespaces it dumps and what each file is called.

Followed exactly so that an unpacked archive is a directory ``mongorestore``
reads as its own:

* A collection's files are ``<db>/<name>.bson`` and ``<db>/<name>.metadata.json``,
  with the collection name escaped as Go's ``url.QueryEscape`` escapes it
  (letters, digits and ``-_.~`` stay; space becomes ``+``; every other byte of
  the UTF-8 name becomes ``%XX``). Database names are not escaped: they cannot
  hold ``/``, ``\\``, ``.``, space, ``"``, ``$`` or NUL.
* An escaped name longer than 238 bytes keeps its first 208 bytes, then
  ``%24`` and the unpadded base64url SHA-1 of the original name, so that the
  longest file name (``.metadata.json.gz``) stays within 255 bytes.
* A view has only a metadata file. A time-series collection's data is its
  bucket collection's, in ``system.buckets.<name>.bson``.
* The oplog captured during the dump is ``oplog.bson`` and the server and tool
  versions are ``prelude.json``, both at the top (``<db>/prelude.json`` when one
  database is dumped, as ``mongodump --db`` does).
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote_plus

from shared.errors import IntegrityError

PRELUDE = "prelude.json"
OPLOG = "oplog.bson"
BSON_SUFFIX = ".bson"
METADATA_SUFFIX = ".metadata.json"
BUCKETS_PREFIX = "system.buckets."
SYSTEM_DATABASES = frozenset({"admin", "config", "local"})
INTERNAL_DB_PREFIX = "__mdb_internal"
_MAX_ESCAPED = 238
_TRUNCATED = 208
_INVALID_DB_CHARS = '/\\. "\x00$'


def escape_collection(name: str) -> str:
    """The file stem mongodump uses for collection ``name`` (see the module docstring)."""
    escaped = quote_plus(name, safe="")
    if len(escaped) <= _MAX_ESCAPED:
        return escaped
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).digest()
    return escaped[:_TRUNCATED] + "%24" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def check_db_name(name: str) -> str:
    """``name`` if it is a database name that is safe as a directory; IntegrityError if not."""
    bad = sorted({c for c in name if c in _INVALID_DB_CHARS})
    if not name or len(name.encode()) > 63 or bad:
        raise IntegrityError(f"{name!r} is not a valid database name")
    return name


def is_dumped(collection: str) -> bool:
    """Whether a dump includes this collection of a user database (mongodump's rule).

    ``system.*`` collections are skipped except ``system.js`` (stored
    functions); time-series buckets are reached through their collection.
    """
    if collection == "system.js":
        return True
    return not collection.startswith("system.")


def is_user_database(db: str) -> bool:
    """Databases a dump of "every database" covers: not admin, config, local or internal ones."""
    return db not in SYSTEM_DATABASES and not db.startswith(INTERNAL_DB_PREFIX)


def metadata_path(db: str, collection: str) -> str:
    return f"{db}/{escape_collection(collection)}{METADATA_SUFFIX}"


def data_path(db: str, collection: str, kind: str) -> str | None:
    """The ``.bson`` file of a collection of this ``type``; ``None`` for a view."""
    if kind == "view":
        return None
    if kind == "timeseries":
        return f"{db}/{escape_collection(BUCKETS_PREFIX + collection)}{BSON_SUFFIX}"
    return f"{db}/{escape_collection(collection)}{BSON_SUFFIX}"


def prelude_path(single_db: str | None) -> str:
    return f"{single_db}/{PRELUDE}" if single_db else PRELUDE
