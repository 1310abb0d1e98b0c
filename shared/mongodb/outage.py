"""Riding out a MongoDB server that goes away for a while: a failover, a paused VM, a long GC.

The driver's own retry covers one attempt of one command; a cursor's later
batches are not retried at all, and when the driver's health check gives up on
a silent server it cancels every operation in progress. A primary that steps
down looks much the same: an open cursor may read on from the secondary, but
the next query finds no primary until an election ends. So the dump reads each
collection in ``_id`` order and, after a connection failure, waits for the
server and reads on from the last ``_id`` it has (:func:`after`). Only when the
server stays unreachable for longer than the configured limit
(``MONGODB_OUTAGE_LIMIT_SECONDS``) does the dump fail, with an error that says
so. The limit counts from the first failure of a streak; any success resets it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from re import Pattern
from typing import Any, TypeVar

from bson import Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.binary import Binary
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from pymongo.errors import ConnectionFailure

from shared.errors import SourceUnavailable
from shared.redact import redact

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_SECONDS = 1.0
MAX_REASON = 300

# MongoDB's sort order of BSON types, as ``$type`` aliases (values of one group compare by
# value; a ``$gt`` on a value matches only its own group, so later groups are asked for apart).
TYPE_ORDER: tuple[tuple[str, ...], ...] = (
    ("minKey",),
    ("null", "undefined"),
    ("double", "int", "long", "decimal"),
    ("string", "symbol"),
    ("object",),
    ("array",),
    ("binData",),
    ("objectId",),
    ("bool",),
    ("date",),
    ("timestamp",),
    ("regex",),
    ("dbPointer",),
    ("javascript",),
    ("javascriptWithScope",),
    ("maxKey",),
)
_GROUPS: tuple[tuple[type | tuple[type, ...], int], ...] = (
    (MinKey, 0),
    (type(None), 1),
    (bool, 8),  # before int: a bool is an int in Python
    ((int, float, Int64, Decimal128, Decimal), 2),
    (str, 3),
    ((dict, DBRef), 4),
    ((list, tuple), 5),
    ((bytes, Binary), 6),
    (ObjectId, 7),
    ((datetime, DatetimeMS), 9),
    (Timestamp, 10),
    ((Regex, Pattern), 11),
    (MaxKey, 15),
)


def _group(value: Any) -> int:
    if isinstance(value, Code):
        return 14 if value.scope is not None else 13
    for kinds, group in _GROUPS:
        if isinstance(value, kinds):
            return group
    raise TypeError(f"no BSON sort group for {type(value).__name__}")


def after(last_id: Any) -> dict[str, Any]:
    """The filter of documents whose ``_id`` sorts after ``last_id`` (in ``_id`` order).

    ``{"_id": {"$gt": last}}`` alone would stop at the end of ``last``'s type
    group (a number's ``$gt`` matches numbers only); the rest of the groups
    follow it in MongoDB's sort order.
    """
    later = [alias for group in TYPE_ORDER[_group(last_id) + 1 :] for alias in group]
    same = {"_id": {"$gt": last_id}}
    return {"$or": [same, {"_id": {"$type": later}}]} if later else same


def _brief(exc: ConnectionFailure) -> str:
    """The driver's reason without the topology description it appends (a screenful)."""
    return redact(str(exc).split(", Timeout: ")[0])[:MAX_REASON]


class Outage:
    """Tracks a streak of connection failures against a limit; shared by a dump's threads."""

    def __init__(
        self,
        limit_seconds: float,
        server: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit_seconds = limit_seconds
        self._server = server
        self._clock = clock
        self._sleep = sleep
        self._since: float | None = None
        self._lock = threading.Lock()

    def ok(self) -> None:
        """An operation succeeded: the server is back."""
        if self._since is not None:
            with self._lock:
                if self._since is not None:
                    log.info("%s answers again", self._server)
                    self._since = None

    def failed(self, exc: ConnectionFailure, what: str) -> None:
        """Wait before the next attempt; SourceUnavailable once the streak exceeds the limit."""
        now = self._clock()
        with self._lock:
            if self._since is None:
                self._since = now
            gone = now - self._since
        if gone >= self.limit_seconds:
            raise SourceUnavailable(
                f"{what}: {self._server} has been unreachable for {gone:.0f} s, longer than "
                f"MONGODB_OUTAGE_LIMIT_SECONDS ({self.limit_seconds:g} s); "
                f"last error: {_brief(exc)}"
            ) from None
        log.warning(
            "%s: %s is unreachable or has no primary (%s); retrying for up to %.0f s more",
            what,
            self._server,
            _brief(exc),
            self.limit_seconds - gone,
        )
        self._sleep(RETRY_SECONDS)

    def call(self, what: str, operation: Callable[[], T]) -> T:
        """``operation()`` (idempotent: a read), repeated through an outage up to the limit."""
        while True:
            try:
                result = operation()
            except ConnectionFailure as exc:
                self.failed(exc, what)
                continue
            self.ok()
            return result
