"""The restore's writers, without a server: bounded batches in flight, order, index timing, errors."""

from __future__ import annotations

import contextlib
import functools
import threading
import time

import pytest

from shared.mongodb.inserts import Workers, Writers


class Tracker:
    """Counts batches running at once, overall and per collection, and the order they ran in."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.most = 0
        self.most_per: dict[str, int] = {}
        self.ran: list[tuple[str, int]] = []

    def batch(self, namespace: str, number: int) -> None:
        with self.lock:
            self.running[namespace] = self.running.get(namespace, 0) + 1
            self.most = max(self.most, sum(self.running.values()))
            self.most_per[namespace] = max(self.most_per.get(namespace, 0), self.running[namespace])
        time.sleep(0.002 * (number % 3))
        with self.lock:
            self.running[namespace] -= 1
            self.ran.append((namespace, number))

    def record_build(self, namespace: str, built: list[tuple[str, int]]) -> None:
        """An index build: notes how many batches of its collection had run by then."""
        with self.lock:
            built.append((namespace, sum(1 for ns, _ in self.ran if ns == namespace)))


def test_batches_in_flight_are_bounded_and_a_capped_collection_keeps_its_order() -> None:
    tracker = Tracker()
    built: list[tuple[str, int]] = []
    with contextlib.closing(Writers(Workers(collections=2, per_collection=2))) as writers:
        for number in range(40):
            for namespace in ("a.one", "a.two", "a.capped"):
                work = functools.partial(tracker.batch, namespace, number)
                writers.insert(namespace, work, in_order=namespace == "a.capped")
        for namespace in ("a.one", "a.two", "a.capped"):
            writers.then(namespace, functools.partial(tracker.record_build, namespace, built))
        writers.finish()
    assert tracker.most <= 4
    assert tracker.most_per["a.capped"] == 1
    assert max(tracker.most_per["a.one"], tracker.most_per["a.two"]) <= 2
    assert [i for ns, i in tracker.ran if ns == "a.capped"] == list(range(40))
    assert sorted(built) == [("a.capped", 40), ("a.one", 40), ("a.two", 40)]  # after every batch


def test_a_failed_batch_stops_the_restore_with_its_error() -> None:
    def fail() -> None:
        raise RuntimeError("insert refused")

    with contextlib.closing(Writers(Workers(1, 1))) as writers:
        writers.insert("a.b", fail, in_order=False)
        with pytest.raises(RuntimeError, match="insert refused"):
            writers.finish()
        with pytest.raises(RuntimeError, match="insert refused"):
            writers.insert("a.b", lambda: None, in_order=False)
