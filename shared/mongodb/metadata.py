"""mongodump's ``<coll>.metadata.json`` and ``prelude.json``, written and read byte for byte.

A metadata file is canonical Extended JSON v2, compact, with mongodump's key
order: ``options`` (left out when empty), ``indexes`` (always present, ``[]``
for a view), ``uuid`` (the collection UUID as 32 lowercase hex digits, not
``$binary``: mongodump writes the string), ``collectionName`` and ``type``
(``collection``, ``view`` or ``timeseries``). Canonical form keeps every
number's BSON type (``{"$numberInt": "1"}`` versus ``{"$numberDouble": "1.0"}``),
so an index key or a capped size comes back exactly as it was.

``prelude.json`` is what mongodump writes in directory mode:
``{"ServerVersion": ..., "ToolVersion": ...}`` as plain JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson import json_util
from bson.binary import Binary
from bson.codec_options import CodecOptions, DatetimeConversion

from shared.errors import IntegrityError
from shared.mongodb import names

KINDS = ("collection", "view", "timeseries")
# Exact round trips of server answers: dates outside datetime's range and
# UUIDs stay as they are instead of being converted.
EXACT: CodecOptions[dict[str, Any]] = CodecOptions(
    datetime_conversion=DatetimeConversion.DATETIME_MS
)
_JSON = json_util.JSONOptions(
    json_mode=json_util.JSONMode.CANONICAL, datetime_conversion=DatetimeConversion.DATETIME_MS
)


@dataclass(frozen=True)
class CollectionSpec:
    """One namespace as mongodump records it: options, indexes, UUID and type."""

    db: str
    name: str
    kind: str
    options: Mapping[str, Any]
    indexes: tuple[Mapping[str, Any], ...]
    uuid: str | None = None

    @property
    def namespace(self) -> str:
        return f"{self.db}.{self.name}"

    @property
    def metadata_path(self) -> str:
        return names.metadata_path(self.db, self.name)

    @property
    def data_path(self) -> str | None:
        return names.data_path(self.db, self.name, self.kind)

    @property
    def source_collection(self) -> str:
        """Where the documents are read from: a time-series collection's buckets."""
        return self.stored_as(self.name)

    def stored_as(self, name: str) -> str:
        """Where the documents of this collection restored as ``name`` are written."""
        return names.BUCKETS_PREFIX + name if self.kind == "timeseries" else name

    @classmethod
    def from_listing(
        cls, db: str, info: Mapping[str, Any], indexes: Sequence[Mapping[str, Any]]
    ) -> CollectionSpec:
        """From one ``listCollections`` entry and the collection's ``listIndexes`` answer."""
        uuid = (info.get("info") or {}).get("uuid")
        hex_uuid = bytes(uuid).hex() if isinstance(uuid, Binary) and uuid.subtype == 4 else None
        kind = str(info.get("type") or "collection")
        return cls(
            db, str(info["name"]), kind, dict(info.get("options") or {}), tuple(indexes), hex_uuid
        )

    def to_json_bytes(self) -> bytes:
        document: dict[str, Any] = {}
        if self.options:
            document["options"] = self.options
        document["indexes"] = list(self.indexes)
        if self.uuid:
            document["uuid"] = self.uuid
        document["collectionName"] = self.name
        document["type"] = self.kind
        text = json_util.dumps(
            document, json_options=_JSON, separators=(",", ":"), ensure_ascii=False
        )
        return text.encode("utf-8")

    @classmethod
    def from_json_bytes(cls, db: str, data: bytes, where: str) -> CollectionSpec:
        try:
            document = json_util.loads(data.decode("utf-8"), json_options=_JSON)
            name = document["collectionName"]
            kind = document.get("type") or "collection"
            options = document.get("options") or {}
            indexes = document["indexes"]
            if not isinstance(name, str) or kind not in KINDS or not isinstance(indexes, list):
                raise ValueError("collectionName, type or indexes has the wrong form")
            if not isinstance(options, dict) or not all(isinstance(i, dict) for i in indexes):
                raise ValueError("options or indexes are not documents")
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{where}: not a mongodump metadata file ({exc})") from None
        return cls(db, name, kind, options, tuple(indexes), document.get("uuid"))


def prelude_json(server_version: str, tool_version: str) -> bytes:
    prelude = {"ServerVersion": server_version, "ToolVersion": tool_version}
    return json.dumps(prelude, separators=(",", ":")).encode("utf-8")
