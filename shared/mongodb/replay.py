"""Replaying a captured oplog as ordinary writes, onto the restored (possibly renamed) databases.

``applyOps`` would replay entries as they are, but not every server has it
(SecantusDB has not) and entry shapes differ between servers, so each entry
becomes the plain write it stands for: an insert is an upsert of the whole
document, an update is applied to the current document (:mod:`.updates`), a
delete deletes by ``_id``, a command (create, drop, indexes, collMod, rename,
views) runs as the command. Every write is idempotent, as oplog application
must be: the dump already holds some of the window's changes.

:func:`check` decides, without a server, whether an entry can be replayed;
the restore runs it over the whole oplog before writing anything, so an
unreplayable oplog is refused up front. Entries for databases outside the
restore (and no-ops) are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from shared.errors import IntegrityError
from shared.mongodb import bsonio, updates
from shared.mongodb.metadata import EXACT

log = logging.getLogger(__name__)

RAW = CodecOptions(
    document_class=RawBSONDocument, datetime_conversion=DatetimeConversion.DATETIME_MS
)
IGNORED_OPS = frozenset({"n", "cd", "ci", "cu", "km"})
IGNORED_COMMANDS = frozenset(
    {"startIndexBuild", "abortIndexBuild", "setMultikeyMetadata", "dropIdent", "dbCheck"}
)
COMMANDS = frozenset(
    {
        "create", "drop", "dropDatabase", "createIndexes", "commitIndexBuild", "dropIndexes",
        "deleteIndexes", "dropIndex", "collMod", "renameCollection", "applyOps",
        "emptycapped", "convertToCapped", "commitTransaction", "abortTransaction",
    }
)  # fmt: skip
# Codes that mean "already done": replays are idempotent.
ALREADY = frozenset({26, 27, 48, 85, 86})  # NamespaceNotFound, IndexNotFound, NamespaceExists, ...
INTERNAL_FIELDS = ("entryFormat", "ns")


def decode(raw: bytes | memoryview) -> RawBSONDocument:
    return RawBSONDocument(bytes(raw), RAW)


def _exact(document: Any) -> dict[str, Any]:
    return (
        bson.decode(document.raw, codec_options=EXACT)
        if isinstance(document, RawBSONDocument)
        else dict(document)
    )


def _command_name(entry: Mapping[str, Any]) -> str:
    return str(next(iter(entry["o"])))


def check(entry: Mapping[str, Any]) -> None:
    """IntegrityError if ``entry`` is of a kind a restore cannot replay."""
    op = entry.get("op")
    if op in IGNORED_OPS or op in ("i", "u", "d"):
        return
    if op != "c":
        raise IntegrityError(f"oplog entry at {entry.get('ts')} has unknown op {op!r}")
    name = _command_name(entry)
    if name in IGNORED_COMMANDS:
        return
    if name not in COMMANDS:
        raise IntegrityError(
            f"oplog entry at {entry.get('ts')}: command {name!r} cannot be replayed"
        )
    if name == "applyOps":
        for inner in entry["o"]["applyOps"]:
            check(inner)


class Replayer:
    """Applies entries to ``client``, mapping source databases to targets (others are skipped)."""

    def __init__(self, client: MongoClient[dict[str, Any]], db_map: Mapping[str, str]) -> None:
        self._client = client
        self._map = dict(db_map)
        self._transactions: dict[bytes, list[Any]] = {}
        self.applied = 0
        self.skipped = 0

    def apply(self, entry: Mapping[str, Any]) -> None:
        op = entry.get("op")
        if op in IGNORED_OPS:
            self.skipped += 1
            return
        target = self._target(str(entry.get("ns") or ""))
        if op == "c" and str(entry["ns"]).startswith("admin."):
            self._admin_command(entry)
        elif target is None:
            self.skipped += 1
        elif op == "c":
            self._command(target[0], entry["o"])
        else:
            self._crud(target[0], target[1], str(op), entry)

    def _target(self, namespace: str) -> tuple[str, str] | None:
        db, _, collection = namespace.partition(".")
        if db not in self._map:
            return None
        return self._map[db], collection

    def _crud(self, db: str, name: str, op: str, entry: Mapping[str, Any]) -> None:
        if name == "system.views":
            self._view_write(db, op, entry)
            return
        if (
            name.startswith("system.")
            and not name.startswith("system.buckets.")
            and name != "system.js"
        ):
            self.skipped += 1
            return
        collection = self._client[db][name]
        change = entry["o"]
        if op == "i":
            collection.replace_one({"_id": change["_id"]}, change, upsert=True)
        elif op == "d":
            collection.delete_one({"_id": change["_id"]})
        else:
            self._update(collection, entry["o2"]["_id"], change)
        self.applied += 1

    def _update(self, collection: Any, key: Any, change: Any) -> None:
        shape = updates.kind(change)
        if shape == "replacement":
            collection.replace_one({"_id": key}, change, upsert=True)
        elif shape == "operators":
            collection.update_one({"_id": key}, updates.operators(_exact(change)))
        else:
            current = collection.with_options(codec_options=EXACT).find_one({"_id": key})
            if current is None:  # deleted later in the window; its delete follows
                return
            updates.apply_diff(current, _exact(change)["diff"])
            collection.replace_one({"_id": key}, current)

    def _view_write(self, db: str, op: str, entry: Mapping[str, Any]) -> None:
        """Servers that keep views in ``system.views`` log view changes as writes to it."""
        spec = _exact(entry["o"])
        name = (
            str(spec["_id"]).partition(".")[2]
            if op != "u"
            else str(entry["o2"]["_id"]).partition(".")[2]
        )
        options = {k: v for k, v in spec.items() if k != "_id"}
        if op == "i":
            self._run(db, {"create": name, **options})
        elif op == "d":
            self._run(db, {"drop": name})
        else:
            self._run(db, {"collMod": name, **options})
        self.applied += 1

    def _command(self, db: str, raw: Any) -> None:
        command = _exact(raw)
        name = next(iter(command))
        if name in IGNORED_COMMANDS:
            self.skipped += 1
            return
        if name == "create":
            options = {k: v for k, v in command.items() if k not in ("create", "idIndex")}
            if "viewPipeline" in options:  # SecantusDB's name for a view's pipeline
                options["pipeline"] = options.pop("viewPipeline")
            self._run(db, {"create": command["create"], **options})
        elif name == "dropDatabase":
            self._client.drop_database(db)
        elif name in ("createIndexes", "commitIndexBuild"):
            specs = command.get("indexes") or [{k: v for k, v in command.items() if k != name}]
            clean = [{k: v for k, v in s.items() if k not in INTERNAL_FIELDS} for s in specs]
            self._run(db, {"createIndexes": command[name], "indexes": clean})
        elif name in ("dropIndexes", "deleteIndexes", "dropIndex"):
            self._run(db, {"dropIndexes": command[name], "index": command["index"]})
        elif name == "renameCollection":
            self._rename(command)
        elif name == "emptycapped":
            self._client[db][command[name]].delete_many({})
        elif name == "applyOps":
            self._apply_ops(command, raw)
        else:  # drop, collMod, convertToCapped: the command as logged
            self._run(db, {k: v for k, v in command.items() if k != "o2"})
        self.applied += 1

    def _admin_command(self, entry: Mapping[str, Any]) -> None:
        """``admin.$cmd``: transactions (``applyOps``) and cross-database renames."""
        command = _exact(entry["o"])
        name = next(iter(command))
        if name == "renameCollection":
            self._rename(command)
            self.applied += 1
        elif name == "applyOps":
            self._apply_ops(command, entry["o"], entry)
        elif name == "commitTransaction":
            for inner in self._transactions.pop(_txn_key(entry), []):
                self.apply(inner)
        elif name == "abortTransaction":
            self._transactions.pop(_txn_key(entry), None)
        else:
            self.skipped += 1

    def _apply_ops(
        self, command: Mapping[str, Any], raw: Any, entry: Mapping[str, Any] | None = None
    ) -> None:
        """A transaction's operations, once all its parts (``partialTxn``, ``prepare``) are in."""
        operations = list(raw["applyOps"])
        if entry is not None and (command.get("partialTxn") or command.get("prepare")):
            self._transactions.setdefault(_txn_key(entry), []).extend(operations)
            return
        pending = self._transactions.pop(_txn_key(entry), []) if entry is not None else []
        for inner in [*pending, *operations]:
            self.apply(inner)

    def _rename(self, command: Mapping[str, Any]) -> None:
        source = self._target(str(command["renameCollection"]))
        target = self._target(str(command["to"]))
        if source is None and target is None:
            return
        if source is None or target is None:
            raise IntegrityError(
                f"oplog renames {command['renameCollection']} to {command['to']}, across the "
                "restored databases and others: it cannot be replayed"
            )
        self._run(
            "admin",
            {
                "renameCollection": f"{source[0]}.{source[1]}",
                "to": f"{target[0]}.{target[1]}",
                "dropTarget": bool(command.get("dropTarget")),
            },
        )

    def _run(self, db: str, command: Mapping[str, Any]) -> None:
        try:
            self._client[db].command(dict(command))
        except OperationFailure as exc:
            if exc.code not in ALREADY:
                raise


def _txn_key(entry: Mapping[str, Any] | None) -> bytes:
    if entry is None:
        return b""
    lsid = entry.get("lsid") or {}
    identity = lsid.get("id") if isinstance(lsid, Mapping) else None
    return bson.encode({"id": identity, "txn": entry.get("txnNumber")})


def entries(data: bytes | memoryview, offsets: list[int]) -> Iterator[RawBSONDocument]:
    for document in bsonio.documents(data, offsets):
        yield decode(document)
