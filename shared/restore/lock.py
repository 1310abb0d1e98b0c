"""One restore per target at a time: a lock object in the state bucket.

``locks/<target>.json`` is created with ``if_generation_match=0``, so exactly
one request wins; the loser reads the lock and is told which request holds
it and since when. A lock carries an expiry: a holder that died (a crashed
job, a killed function) does not block restores forever; a later request
takes a stale lock over with a generation precondition on the stale copy, so
two requests cannot both take it over. Release is guarded the same way and
only by the request that holds the lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared import storage
from shared.errors import ConflictError

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

log = logging.getLogger(__name__)


def lock_path(target: str) -> str:
    return f"locks/{target}.json"


@dataclass(frozen=True)
class Lock:
    target: str
    request_id: str
    generation: int


def acquire(bucket: Bucket, target: str, request_id: str, ttl: timedelta, now: datetime) -> Lock:
    """Take the target's lock for ``request_id``; :class:`ConflictError` names the holder."""
    record = {
        "request_id": request_id,
        "acquired": now.isoformat(),
        "expires": (now + ttl).isoformat(),
    }
    try:
        return Lock(target, request_id, storage.create_json(bucket, lock_path(target), record))
    except ConflictError:
        pass
    current = storage.read_json(bucket, lock_path(target))
    if current is None:  # released between our create and read: try once more
        return Lock(target, request_id, storage.create_json(bucket, lock_path(target), record))
    held, generation = current
    if held.get("request_id") == request_id:  # a redelivery of the holder itself
        return Lock(target, request_id, generation)
    expires = datetime.fromisoformat(str(held.get("expires")))
    if expires > now:
        raise ConflictError(
            f"another {target} restore is running: request {held.get('request_id')} "
            f"(started {held.get('acquired')}, lock expires {held.get('expires')}); "
            "try again when it has finished"
        )
    log.warning(
        "taking over the stale %s restore lock of request %s (expired %s)",
        target,
        held.get("request_id"),
        held.get("expires"),
    )
    new_generation = storage.replace_json(bucket, lock_path(target), record, generation)
    return Lock(target, request_id, new_generation)


def release(bucket: Bucket, target: str, request_id: str) -> bool:
    """Release the lock if ``request_id`` holds it; ``False`` if it holds nothing."""
    current = storage.read_json(bucket, lock_path(target))
    if current is None or current[0].get("request_id") != request_id:
        return False
    try:
        return storage.delete(bucket, lock_path(target), generation=current[1])
    except ConflictError:
        return False
