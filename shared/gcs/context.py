"""What every step of a backup or restore needs: settings, clients, a clock, a notifier, threads.

Copies run on a thread pool. Each thread gets its own storage client, because
a client's HTTP session (``requests``) is not meant to be shared between
threads and its connection pool is smaller than the copy concurrency; a
client per thread gives every worker its own keep-alive connection.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from shared import clients
from shared.clock import Clock, utc_now
from shared.config import GcsSettings
from shared.notify import Notifier
from shared.reporting import ReportSink

if TYPE_CHECKING:
    from google.cloud.storage import Bucket, Client

T = TypeVar("T")
R = TypeVar("R")


class GcsContext:
    """Settings plus the means to act on them; use as a context manager (it owns threads)."""

    def __init__(
        self,
        settings: GcsSettings,
        *,
        new_client: Callable[[], Client] | None = None,
        clock: Clock = utc_now,
        notifier: ReportSink | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.notifier: ReportSink = notifier or Notifier(settings.notify)
        self._new_client = new_client or functools.partial(
            clients.storage_client, settings.project_id
        )
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(settings.copy_workers, thread_name_prefix="gcs-copy")

    def client(self) -> Client:
        """This thread's storage client."""
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._new_client()
            self._local.client = client
        return client

    def bucket(self, name: str) -> Bucket:
        return self.client().bucket(name)

    def backup_bucket(self) -> Bucket:
        return self.bucket(self.settings.backup_bucket)

    def parallel(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn`` over ``items`` on the copy threads (``GCS_COPY_WORKERS``), results in order."""
        return self._executor.map(fn, items)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
