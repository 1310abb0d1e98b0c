"""Where shards go: Pub/Sub for the deployed functions, threads for library, CLI and benchmark use.

The same lister feeds both, so the sharded path that runs in production is
the one tests and benchmarks exercise; only the transport differs.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from shared.errors import SourceUnavailable
from shared.gcs.context import GcsContext
from shared.gcs.listing import run_step
from shared.gcs.run import ShardRef, TodoItem
from shared.gcs.steps import ListRef
from shared.gcs.worker import process_shard, write_todo

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import PublisherClient

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 60.0


class InProcessSink:
    """Runs shards on ``parallel`` threads of this process while the lister goes on listing.

    Each shard's copies use the context's copy threads; two shards at a time
    keep those busy while one shard records its work list or its result. The
    lister waits when ``2 * parallel`` shards are queued, so memory stays
    bounded however large the bucket. Further listing steps run here too,
    one after another, when the lister closes the sink.
    """

    def __init__(self, ctx: GcsContext, parallel: int = 2) -> None:
        self._ctx = ctx
        self._executor = ThreadPoolExecutor(parallel, thread_name_prefix="gcs-shard")
        self._slots = threading.BoundedSemaphore(2 * parallel)
        self._futures: list[Future[Any]] = []
        self._listings: deque[ListRef] = deque()

    def resume(self, listing: ListRef) -> None:
        self._listings.append(listing)

    def submit(self, shard: ShardRef, items: list[TodoItem]) -> None:
        self._slots.acquire()
        self._futures.append(self._executor.submit(self._run, shard, items))

    def _run(self, shard: ShardRef, items: list[TodoItem]) -> None:
        try:
            write_todo(self._ctx, shard, items)
            process_shard(self._ctx, shard, complete=False)  # the lister completes the run, once
        finally:
            self._slots.release()

    def close(self) -> None:
        """List on to the end, wait for every shard; re-raise the first failure."""
        try:
            while self._listings:
                run_step(self._ctx, self._listings.popleft(), self)
        finally:
            self._executor.shutdown(wait=True)
        for future in self._futures:
            future.result()


class PubSubSink:
    """Publishes one message per shard, and per further listing step, to the shard topic."""

    def __init__(self, ctx: GcsContext, publisher: PublisherClient, topic: str) -> None:
        self._ctx = ctx
        self._publisher = publisher
        self._topic = topic
        self._pending: list[tuple[ShardRef | ListRef, Future[Any]]] = []

    def submit(self, shard: ShardRef, items: list[TodoItem]) -> None:
        write_todo(self._ctx, shard, items)
        self._pending.append((shard, self._publisher.publish(self._topic, shard.to_message())))

    def resume(self, listing: ListRef) -> None:
        self._pending.append((listing, self._publisher.publish(self._topic, listing.to_message())))

    def close(self) -> None:
        """Wait until every shard message is published; a lost one fails the run."""
        for ref, future in self._pending:
            try:
                future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
            except Exception as exc:
                raise SourceUnavailable(
                    f"publishing {ref.describe()} to {self._topic} failed: {exc}"
                ) from exc
        log.info("published %d message(s) to %s", len(self._pending), self._topic)
        self._pending.clear()
