"""Capturing the oplog during a dump, as ``mongodump --oplog`` does, for a point-in-time restore.

Before listing collections the dump notes the newest oplog entry's
timestamp (*start*); after the last collection it notes the server's last
write (*end*, from ``hello``) and copies every entry in
``[start, end]`` that touches a dumped database (transactions logged on
``admin.$cmd`` included) into ``oplog.bson``.
Documents read during the dump reflect some moment in that window; replaying
the window onto them (:mod:`.replay`) brings every collection to *end*, the
consistent time recorded in the manifest.

The copy also proves that nothing was lost: its query asks for the entry at
*start* itself (whatever its database; it is not written out), and the oplog
is trimmed oldest first, so if that entry is still there when the copy reads
it, every later entry of the window is too. If it is gone, the oplog rolled
over during the dump and some changes are lost. (mongodump checks the oldest
entry before and after copying instead; one query does it here because some
servers scan the whole oplog for every query.) Then, and where there is no
oplog to read (a standalone server, an Atlas tier that forbids reading
``local``), the dump still succeeds and the manifest says it is not
point-in-time consistent, and why.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from shared.mongodb import names
from shared.mongodb.archive import FileRecord
from shared.mongodb.bsonio import ContentHash, boundaries, documents
from shared.mongodb.tarwriter import PartWriter, TarWriter

log = logging.getLogger(__name__)

OPLOG_DB = "local"
OPLOG_COLLECTION = "oplog.rs"
ROLLED_OVER = "the oplog rolled over during the dump (changes were lost; enlarge the oplog)"


@dataclass(frozen=True)
class OplogResult:
    """What the archive's ``oplog.bson`` holds, and whether a restore may replay it."""

    point_in_time: bool
    note: str
    start: Timestamp | None = None
    end: Timestamp | None = None
    file: FileRecord | None = None
    count: int = 0
    content_hash: str | None = None

    @property
    def consistent_time(self) -> datetime | None:
        if not self.point_in_time or self.end is None:
            return None
        return datetime.fromtimestamp(self.end.time, UTC)

    def to_json(self) -> dict[str, Any]:
        return {
            "point_in_time": self.point_in_time,
            "note": self.note,
            "start": _ts_json(self.start),
            "end": _ts_json(self.end),
            "entries": self.count,
            "content_hash": self.content_hash,
        }


def _ts_json(ts: Timestamp | None) -> dict[str, int] | None:
    return None if ts is None else {"t": ts.time, "i": ts.inc}


def _oplog(client: MongoClient[dict[str, Any]]) -> Any:
    return client[OPLOG_DB][OPLOG_COLLECTION]


def _edge(client: MongoClient[dict[str, Any]], direction: int) -> Timestamp | None:
    entry = _oplog(client).find_one({}, {"ts": 1}, sort=[("$natural", direction)])
    return None if entry is None else cast(Timestamp, entry["ts"])


def _last_write(client: MongoClient[dict[str, Any]], hello: dict[str, Any]) -> Timestamp | None:
    """At least the newest oplog timestamp: ``hello``'s last write, else the newest entry's."""
    optime = (hello.get("lastWrite") or {}).get("opTime") or {}
    if isinstance(optime.get("ts"), Timestamp):
        return cast(Timestamp, optime["ts"])
    return _edge(client, -1)


def begin(client: MongoClient[dict[str, Any]], hello: dict[str, Any]) -> OplogResult:
    """Note *start* before the dump; ``point_in_time=False`` and a note when there is none."""
    if not hello.get("setName"):
        return OplogResult(False, "the server is not a replica set member, so it has no oplog")
    try:
        start = _edge(client, -1)  # an entry that exists: the capture looks for it
    except OperationFailure as exc:
        return OplogResult(False, f"the oplog is not readable ({_reason(exc)})")
    if start is None:
        return OplogResult(False, "the oplog is empty")
    return OplogResult(True, "", start=start)


def capture(
    client: MongoClient[dict[str, Any]],
    started: OplogResult,
    db_names: Sequence[str],
    tar: TarWriter,
) -> OplogResult:
    """After the dump: copy ``[start, end]`` into ``oplog.bson``, or say why it cannot be used.

    Whatever was copied stays listed (the archive holds it), but a restore
    replays it only when the result is point-in-time.
    """
    if not started.point_in_time or started.start is None:
        return started
    start = started.start
    try:
        end = _last_write(client, client.admin.command("hello")) or start
    except OperationFailure as exc:
        return OplogResult(False, f"the oplog could not be read ({_reason(exc)})", start)
    pattern = re.compile("^(?:" + "|".join(re.escape(db) for db in db_names) + r")\.")
    query = {
        "ts": {"$gte": start, "$lte": end},
        "$or": [{"ts": start}, {"ns": {"$regex": pattern.pattern}}, {"ns": "admin.$cmd"}],
    }
    writer = PartWriter(tar, names.OPLOG)
    content = ContentHash()
    window = _Window(start, lambda ns: ns == "admin.$cmd" or bool(pattern.match(ns)))
    try:
        for raw in _oplog(client).find_raw_batches(query, sort=[("$natural", 1)]):
            batch = window.keep(cast(bytes, raw))
            offsets = boundaries(batch, "oplog (from the server)")
            content.add(batch, offsets)
            writer.write(batch, offsets)
        note = "" if window.found_start else ROLLED_OVER
    except OperationFailure as exc:
        note = f"the oplog could not be read to the end ({_reason(exc)})"
    record = writer.close()
    if note:
        log.warning("the backup is not point-in-time consistent: %s", note)
    else:
        log.info("captured %d oplog entries from %s to %s", content.count, start, end)
    return OplogResult(not note, note, start, end, record, content.count, content.hexdigest)


def _reason(exc: OperationFailure) -> str:
    return str((exc.details or {}).get("errmsg") or exc)


class _Window:
    """Looks at the entries at *start*: notes that one exists, keeps only the dumped ones."""

    def __init__(self, start: Timestamp, wanted: Callable[[str], bool]) -> None:
        self._start = start
        self._wanted = wanted
        self._past_start = False
        self.found_start = False

    def keep(self, batch: bytes) -> bytes:
        if self._past_start:
            return batch
        kept = []
        for document in documents(batch, boundaries(batch, "oplog (from the server)")):
            entry = RawBSONDocument(bytes(document))
            if entry["ts"] == self._start:
                self.found_start = True
                if not self._wanted(str(entry.get("ns", ""))):
                    continue
            else:
                self._past_start = True
            kept.append(document)
        return b"".join(kept)
