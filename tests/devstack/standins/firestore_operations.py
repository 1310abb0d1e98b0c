"""Long-running export/import operations of the Firestore Admin stand-in: held, failed, cancelled.

Work runs in a thread, so the client sees a running operation and polls it,
as with the real service. Fault rules shape the run: a *held* database's
operations wait until the test releases them (so a test can observe
"started, not finished" or cancel mid-way), a *failing* database's end
FAILED after leaving partial output. Cancelling ends the operation at once
(state CANCELLED, error code 1); its work then leaves partial output too.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from tests.devstack.standins.httpbase import ApiError, OperationStore

# work(scratch directory, stopped?) -> (documents, bytes); ``stopped`` is true for an
# operation that was cancelled or is meant to fail, which must not complete its output.
Work = Callable[[Path, Callable[[], bool]], tuple[int, int]]


def stamp(moment: dt.datetime | None = None) -> str:
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class Runner:
    def __init__(self, held: Collection[str], failing: Collection[str]) -> None:
        self.store = OperationStore()
        self._held = set(held)
        self._failing = set(failing)
        self._lock = threading.Lock()
        self._released: dict[str, threading.Event] = {}
        self._cancelled: dict[str, threading.Event] = {}

    def run(
        self, database: str, metadata: dict[str, Any], work: Work, response: dict[str, Any]
    ) -> dict[str, Any]:
        """A new operation of ``database`` whose ``work`` runs in a thread once released."""
        operation = self.store.create(database, metadata)
        name = operation["name"]
        cancelled = threading.Event()
        with self._lock:
            self._cancelled[name] = cancelled
            released = self._released.setdefault(database, threading.Event())
        if database not in self._held:
            released.set()
        failing = database in self._failing

        def worker() -> None:
            while not (released.wait(0.05) or cancelled.is_set()):
                pass
            try:
                with tempfile.TemporaryDirectory(prefix="fsadmin-") as scratch:
                    progress = work(Path(scratch), lambda: failing or cancelled.is_set())
            except ApiError as error:
                self.finish(name, "FAILED", error=error)
                return
            except Exception as error:
                self.finish(name, "FAILED", error=ApiError(500, f"internal error: {error}"))
                raise
            if failing:
                internal = ApiError(
                    500, "The operation failed due to an internal error.", "INTERNAL"
                )
                self.finish(name, "FAILED", error=internal)
            else:
                self.finish(name, "SUCCESSFUL", response=response, progress=progress)

        threading.Thread(target=worker, name=name, daemon=True).start()
        return operation

    def finish(
        self,
        name: str,
        state: str,
        *,
        response: dict[str, Any] | None = None,
        error: ApiError | None = None,
        progress: tuple[int, int] | None = None,
    ) -> None:
        """End ``name`` (unless already ended) with its metadata's final state and progress."""
        metadata = dict(self.store.get(name)["metadata"])
        metadata.update(operationState=state, endTime=stamp())
        if progress is not None:
            documents, size = progress
            metadata["progressDocuments"] = {"estimatedWork": documents, "completedWork": documents}
            metadata["progressBytes"] = {"estimatedWork": size, "completedWork": size}
        self.store.finish(name, response=response, error=error, metadata=metadata)

    def cancel(self, name: str) -> None:
        with self._lock:
            event = self._cancelled.get(name)
        if event is None:  # not an export or import: the plain store's cancel
            self.store.cancel(name)
            return
        if not self.store.get(name)["done"]:
            self.finish(
                name, "CANCELLED", error=ApiError(499, "Operation was cancelled.", "CANCELLED")
            )
        event.set()

    def release(self, database: str) -> None:
        """Let the operations of ``database`` waiting now proceed; later ones are held again."""
        with self._lock:
            self._released.pop(database, threading.Event()).set()
