"""Restore status records and target locks, on fake-gcs-server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import storage
from shared.config import NotifySettings, RestoreSettings
from shared.errors import ConflictError, RefusedError
from shared.events import PubSubMessage
from shared.gcs.request import SHAPE as GCS_SHAPE
from shared.restore import lifecycle, lock
from shared.restore.dispatch import dispatch
from shared.restore.ending import exit_code_for
from shared.restore.status import StatusStore
from shared.target import Registered

NOW = datetime(2025, 3, 25, 12, 0, tzinfo=UTC)


def test_a_request_is_recorded_once(bucket: Any) -> None:
    store = StatusStore(bucket, clock=lambda: NOW)
    record = store.create("drill-1", {"target": "gcs"}, "m-1")
    assert record.phase == "Accepted"
    with pytest.raises(ConflictError):
        store.create("drill-1", {"target": "gcs"}, "m-2")


def test_phases_are_kept_with_their_times(bucket: Any) -> None:
    times = iter([NOW + timedelta(seconds=s) for s in range(10)])
    store = StatusStore(bucket, clock=lambda: next(times))
    store.create("r-1", {"target": "mongodb"}, "m")
    store.set_phase("r-1", "Validating")
    store.progress("r-1").update(collections_done=3)
    record = store.set_phase("r-1", "Completed", result={"verified": True})
    assert [p["phase"] for p in record.data["phases"]] == ["Accepted", "Validating", "Completed"]
    assert record.final
    assert record.data["finished"]
    assert record.data["progress"] == {"collections_done": 3}


def test_concurrent_writers_do_not_lose_each_others_changes(bucket: Any) -> None:
    store = StatusStore(bucket, clock=lambda: NOW)
    store.create("r-2", {}, "m")
    stale = store.get("r-2")
    store.progress("r-2").update(a=1)  # someone else writes in between
    assert stale is not None
    store.update("r-2", lambda data: data["progress"].update(b=2))  # retried on the new generation
    record = store.get("r-2")
    assert record is not None
    assert record.data["progress"] == {"a": 1, "b": 2}


def test_one_restore_per_target_and_the_message_names_the_holder(bucket: Any) -> None:
    held = lock.acquire(bucket, "mongodb", "first", timedelta(hours=1), NOW)
    with pytest.raises(ConflictError, match="another mongodb restore is running: request first"):
        lock.acquire(bucket, "mongodb", "second", timedelta(hours=1), NOW)
    assert lock.acquire(bucket, "gcs", "second", timedelta(hours=1), NOW)  # other targets are free
    assert lock.acquire(bucket, "mongodb", "first", timedelta(hours=1), NOW) == held  # redelivery
    assert not lock.release(bucket, "mongodb", "second")  # not the holder
    assert lock.release(bucket, "mongodb", "first")
    assert lock.acquire(bucket, "mongodb", "second", timedelta(hours=1), NOW)


def test_a_stale_lock_is_taken_over(bucket: Any) -> None:
    lock.acquire(bucket, "firestore", "crashed", timedelta(minutes=10), NOW)
    later = NOW + timedelta(minutes=11)
    taken = lock.acquire(bucket, "firestore", "next", timedelta(minutes=10), later)
    assert taken.request_id == "next"
    assert not lock.release(bucket, "firestore", "crashed")


def test_the_lock_is_gone_before_the_terminal_phase_is_recorded(bucket: Any) -> None:
    locked: list[bool] = []

    def clock() -> datetime:  # every write of the record reads the clock first
        locked.append(storage.read_json(bucket, lock.lock_path("gcs")) is not None)
        return NOW

    store = StatusStore(bucket, clock=clock)
    store.create("r-9", {"target": "gcs"}, "m")
    lock.acquire(bucket, "gcs", "r-9", timedelta(hours=1), NOW)
    locked.clear()
    record = lifecycle.end_with_error(store, "r-9", "gcs", ValueError("a bug"), NotifySettings())
    assert record.phase == "Failed"
    assert locked
    assert not any(locked)
    assert record.data["error_class"] == "ValueError"
    assert record.data["exit_code"] == 70
    assert record.data["errors"] == ["ValueError: a bug"]


def test_a_refusal_records_the_confirm_to_send(bucket: Any) -> None:
    store = StatusStore(bucket, clock=lambda: NOW)
    store.create("r-10", {"target": "gcs"}, "m")
    refusal = RefusedError("would overwrite 'assets'", confirm="assets")
    record = lifecycle.end_with_error(store, "r-10", "gcs", refusal, NotifySettings())
    assert (record.phase, record.data["confirm"], record.data["exit_code"]) == (
        "Refused",
        "assets",
        73,
    )


def test_odd_text_is_recorded_escaped_never_dropped(bucket: Any) -> None:
    store = StatusStore(bucket, clock=lambda: NOW)
    store.create("r-11", {"confirm": "a\ud800b", "hour": float("nan")}, "m")
    record = store.get("r-11")
    assert record is not None
    assert record.data["request"] == {"confirm": "a\\ud800b", "hour": "nan"}
    ended = store.set_phase("r-11", "Failed", error="ValueError: \udc80 in a driver message")
    assert ended.data["errors"] == ["ValueError: \\udc80 in a driver message"]


class _Broken:
    """A target adapter with a bug: the dispatcher must still end the request."""

    def resolve(self, request: Any) -> str:
        raise TypeError("'float' object cannot be interpreted as an integer")

    def production_name(self, request: Any) -> None:
        return None

    def plan(self, request: Any) -> Any:
        raise AssertionError("not reached")

    def start(self, request: Any, request_id: str, progress: Any) -> None:
        raise AssertionError("not reached")


def test_an_unplanned_error_ends_the_request_once_and_a_redelivery_is_not_run(
    bucket: Any,
) -> None:
    settings = RestoreSettings(bucket.name, 60, NotifySettings())
    store = StatusStore(bucket, clock=lambda: NOW)
    body = b'{"target": "gcs", "source_bucket": "assets", "test_mode": true}'
    message = PubSubMessage(body, "m-42")
    record = dispatch(message, settings, store, {"gcs": Registered(GCS_SHAPE, _Broken)})
    assert record.phase == "Failed"
    assert record.data["error_class"] == "TypeError"
    assert exit_code_for(record.data) == 70
    again = dispatch(message, settings, store, {"gcs": Registered(GCS_SHAPE, _Broken)})
    assert again.data == record.data
    assert storage.read_json(bucket, lock.lock_path("gcs")) is None
