"""Following a restore's status record: phases, a progress bar, elapsed time, a time limit.

The record is polled once a second. Each phase change prints a line; the
record's ``progress`` drives the bar: any pair of counters ``X``/``of``,
``done``/``total`` or ``X_done``/``X_total`` (objects, documents,
collections, bytes) gives the fraction, and ``step`` says what is going on.
On a terminal the bar is live; elsewhere only the phase lines are printed.
Ctrl-C detaches (the restore goes on) and says how to follow it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from shared.console import output
from shared.restore.status import FINAL_PHASES, StatusStore

POLL_SECONDS = 1.0
ENDED = FINAL_PHASES | {"Planned", "Refused"}


class Detached(Exception):
    """The operator stopped following (Ctrl-C) or the time limit passed; the restore goes on."""

    def __init__(self, request_id: str, why: str) -> None:
        super().__init__(why)
        self.request_id = request_id
        self.why = why


def fraction(progress: Mapping[str, Any]) -> tuple[int, int, str] | None:
    """``(done, total, unit)`` from a record's progress, if it carries a pair of counters."""
    pairs = [("restored", "of", "objects"), ("done", "total", str(progress.get("unit", "")))]
    pairs += [
        (key, key[: -len("_done")] + "_total", key[: -len("_done")])
        for key in progress
        if key.endswith("_done")
    ]
    for done, total, unit in pairs:
        if isinstance(progress.get(done), int) and isinstance(progress.get(total), int):
            return int(progress[done]), int(progress[total]), unit
    return None


def follow(
    store: StatusStore,
    request_id: str,
    timeout: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Mapping[str, Any]:
    """Poll ``request_id`` until it ends; the final record. :class:`Detached` otherwise."""
    console = output.console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    began = clock()
    seen_phase = ""
    try:
        with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
            task = bar.add_task(f"{request_id}: waiting for the dispatcher", total=None)
            while True:
                record = store.get(request_id)
                data = dict(record.data) if record is not None else {}
                phase = str(data.get("phase", ""))
                if phase and phase != seen_phase:
                    elapsed = output.duration_seconds(clock() - began)
                    bar.console.print(f"[{elapsed}] {request_id}: {phase}")
                    seen_phase = phase
                if phase in ENDED:
                    return data
                _show(bar, task, request_id, phase, data.get("progress") or {})
                if timeout is not None and clock() - began > timeout:
                    raise Detached(request_id, f"still running after {timeout:g} s")
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        raise Detached(request_id, "detached (Ctrl-C)") from None


def _show(
    bar: Progress, task: Any, request_id: str, phase: str, progress: Mapping[str, Any]
) -> None:
    step = str(progress.get("step") or "")
    counters = fraction(progress)
    label = f"{request_id}: {phase or 'not yet received'}" + (f" - {step}" if step else "")
    if counters is None:
        bar.update(task, description=label)
    else:
        done, total, unit = counters
        bar.update(task, description=f"{label} ({unit})" if unit else label,
                   completed=done, total=total)  # fmt: skip
