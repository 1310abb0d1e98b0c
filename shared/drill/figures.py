"""RPO and RTO from what a drill saw, compared with the objectives: a pure core.

* **RPO** (how much data a restore right now would lose): the age of the
  newest good backup at drill time, and the largest gap between consecutive
  good backups over the retention window (the worst moment to have needed
  one). The gap from the newest backup to the drill counts as a gap too.
* **RTO** (how long a restore takes): from the request's record being created
  to its terminal phase, with the time spent in each phase, as written in the
  status record (``phases``: the phase and when it began).

A *finding* is anything an operator must act on after the drill: a restore
that failed or did not verify, an objective missed, a restore that did not
finish in time, a target that had no backup to restore.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.notify.message import human_duration


@dataclass(frozen=True)
class Objectives:
    """A target's recovery objectives; ``None`` means none was set."""

    rpo: timedelta | None
    rto: timedelta | None


@dataclass(frozen=True)
class Rpo:
    age: timedelta | None  # None: no good backup at all
    largest_gap: timedelta | None
    backups_in_window: int


@dataclass(frozen=True)
class Rto:
    total: timedelta | None  # None: the restore has not ended
    phases: tuple[tuple[str, timedelta], ...]
    phase: str


def rpo(backup_times: Iterable[datetime], now: datetime, window: timedelta) -> Rpo:
    """RPO figures from the start times of the good backups (any order)."""
    times = sorted(t for t in backup_times if t <= now)
    if not times:
        return Rpo(None, None, 0)
    inside = [t for t in times if t >= now - window]
    # The gap into the window starts at the newest backup before it, if there is one.
    before = [t for t in times if t < now - window]
    points = ([before[-1]] if before else []) + inside + [now]
    gaps = [later - earlier for earlier, later in itertools.pairwise(points)]
    return Rpo(now - times[-1], max(gaps), len(inside))


def rto(record: Mapping[str, Any]) -> Rto:
    """RTO figures from a status record's ``created`` time and ``phases`` list."""
    marks = [(str(p["phase"]), datetime.fromisoformat(str(p["at"]))) for p in record["phases"]]
    phase = marks[-1][0]
    durations = tuple(
        (name, later - began) for (name, began), (_, later) in itertools.pairwise(marks)
    )
    ended = record.get("finished")
    total = None if ended is None else datetime.fromisoformat(ended) - marks[0][1]
    return Rto(total, durations, phase)


def findings(
    target: str,
    rpo_figures: Rpo,
    rto_figures: Rto | None,
    verified: bool | None,
    objectives: Objectives,
    errors: Sequence[str] = (),
) -> list[str]:
    """What went wrong or missed an objective, one sentence each (empty: all well)."""
    found: list[str] = []
    if rpo_figures.age is None:
        return [f"{target}: no good backup to restore"]
    if rto_figures is None:
        found.append(f"{target}: the test restore could not be requested")
    elif rto_figures.total is None:
        found.append(f"{target}: the test restore did not finish (still {rto_figures.phase})")
    elif rto_figures.phase != "Completed" or verified is not True:
        reason = f": {errors[-1]}" if errors else ""
        found.append(f"{target}: the test restore ended {rto_figures.phase}{reason}")
    if objectives.rpo is not None:
        if rpo_figures.age > objectives.rpo:
            found.append(
                f"{target}: newest good backup is {human_duration(rpo_figures.age)} old, "
                f"over the RPO objective of {human_duration(objectives.rpo)}"
            )
        gap = rpo_figures.largest_gap
        if gap is not None and gap > objectives.rpo:
            found.append(
                f"{target}: a gap of {human_duration(gap)} between good backups, "
                f"over the RPO objective of {human_duration(objectives.rpo)}"
            )
    total = rto_figures.total if rto_figures else None
    if objectives.rto is not None and total is not None and total > objectives.rto:
        found.append(
            f"{target}: the test restore took {human_duration(total)}, "
            f"over the RTO objective of {human_duration(objectives.rto)}"
        )
    return found
