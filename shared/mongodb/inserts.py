"""The restore's writers: insert batches and index builds on threads, with bounded memory.

As mongorestore's ``--numParallelCollections`` and
``--numInsertionWorkersPerCollection``: up to ``collections * per_collection``
batches are in flight at once, at most ``per_collection`` of one collection
(one, in order, where order matters: a capped collection). The archive is read
by one thread that hands out batches; when every slot is taken it waits, so
memory holds at most that many batches whatever the size of the backup. A
collection's index build starts on its own thread as soon as its last batch
is in, while the next collections load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True)
class Workers:
    """How many collections load at once, and how many insert batches each has in flight."""

    collections: int = 4
    per_collection: int = 2


class Writers:
    """Runs a restore's writes; the first failure is raised to the thread handing them out."""

    def __init__(self, workers: Workers) -> None:
        threads = workers.collections * workers.per_collection
        self._inserts = ThreadPoolExecutor(threads, thread_name_prefix="insert")
        self._builds = ThreadPoolExecutor(workers.collections, thread_name_prefix="index")
        self._slots = threading.BoundedSemaphore(threads)
        self._per_collection = workers.per_collection
        self._limits: dict[str, threading.BoundedSemaphore] = {}
        self._pending: dict[str, list[Future[None]]] = {}
        self._after: list[Future[None]] = []
        self._error: BaseException | None = None

    def insert(self, namespace: str, work: Callable[[], None], *, in_order: bool) -> None:
        """Run ``work`` (one batch of ``namespace``) when a slot is free."""
        self.check()
        limit = self._limits.setdefault(
            namespace, threading.BoundedSemaphore(1 if in_order else self._per_collection)
        )
        limit.acquire()
        self._slots.acquire()
        future = self._inserts.submit(work)
        future.add_done_callback(lambda done: self._release(done, limit))
        pending = self._pending.setdefault(namespace, [])
        pending[:] = [f for f in pending if not f.done()]
        pending.append(future)

    def _release(self, done: Future[None], limit: threading.BoundedSemaphore) -> None:
        if done.exception() is not None and self._error is None:
            self._error = done.exception()
        self._slots.release()
        limit.release()

    def then(self, namespace: str, work: Callable[[], None]) -> None:
        """Run ``work`` (an index build) once ``namespace``'s batches are in; do not wait here."""
        inserts = self._pending.pop(namespace, [])
        self._after.append(self._builds.submit(_after_all, inserts, work))

    def check(self) -> None:
        """Raise the first failure of a write so far."""
        if self._error is not None:
            raise self._error
        for future in self._after:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def finish(self) -> None:
        """Wait for every write; raise the first failure."""
        for futures in self._pending.values():
            for future in futures:
                future.exception()
        self._pending.clear()
        for future in self._after:
            future.exception()
        self.check()

    def close(self) -> None:
        """Stop: writes not started yet are dropped, running ones finish (use with ``closing``)."""
        self._inserts.shutdown(wait=True, cancel_futures=True)
        self._builds.shutdown(wait=True, cancel_futures=True)


def _after_all(inserts: list[Future[None]], work: Callable[[], None]) -> None:
    for future in inserts:
        if future.exception() is not None:
            return  # reported through the insert's own future
    work()
