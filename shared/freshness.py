"""The dead man's switch: is each target's newest good backup as recent as its schedule promises?

A scheduler that is paused, a function that no longer deploys or a job that
never starts leaves no error behind to alert on; only the *absence* of a new
backup shows it. This module is the pure core of that check: from the newest
good backup of each target, the schedule period and a grace period, and the
time now (passed in, so tests advance it without sleeping), it says which
targets are overdue (:func:`assess`) and what that changes about the open
incidents (:func:`transition`).

One notification per incident, not one per check: an incident opens the first
time a target is overdue and stays open, silently, while it stays overdue; it
closes with one recovery notice when a good backup newer than the one it was
opened on appears. The state that makes this possible is a plain JSON-able
mapping, stored by the caller with a generation precondition so two checks
running at once cannot both announce the same incident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.notify.message import human_duration

AlertKind = Literal["missed", "recovered"]


@dataclass(frozen=True)
class Expectation:
    """A target is expected to have a good backup at least every ``period`` (plus ``grace``)."""

    target: str
    period: timedelta
    grace: timedelta

    @property
    def allowed_age(self) -> timedelta:
        return self.period + self.grace


@dataclass(frozen=True)
class Freshness:
    """One target's standing at one check."""

    expectation: Expectation
    newest: datetime | None  # start time of the newest good backup; None: there is none
    now: datetime

    @property
    def target(self) -> str:
        return self.expectation.target

    @property
    def age(self) -> timedelta | None:
        return None if self.newest is None else self.now - self.newest

    @property
    def overdue(self) -> bool:
        age = self.age
        return age is None or age > self.expectation.allowed_age

    @property
    def due_by(self) -> datetime | None:
        """When the next good backup must exist at the latest (None: already overdue, none yet)."""
        return None if self.newest is None else self.newest + self.expectation.allowed_age

    def describe(self) -> str:
        allowed = human_duration(self.expectation.allowed_age)
        if self.newest is None:
            return f"{self.target}: no good backup at all (expected one every {allowed})"
        age = self.age or timedelta()
        state = "OVERDUE" if self.overdue else "fresh"
        return (
            f"{self.target}: newest good backup {self.newest.isoformat(timespec='seconds')}, "
            f"{human_duration(age)} old ({state}; allowed {allowed})"
        )


@dataclass(frozen=True)
class Alert:
    """A notification the check must send: an incident opened or closed."""

    kind: AlertKind
    freshness: Freshness
    opened: datetime  # when the incident was opened (for a recovery: how long it lasted)


def assess(
    expectations: Iterable[Expectation], newest: Mapping[str, datetime | None], now: datetime
) -> list[Freshness]:
    """Each expected target's standing; a target missing from ``newest`` has no backup."""
    return [Freshness(e, newest.get(e.target), now) for e in expectations]


def transition(
    incidents: Mapping[str, Mapping[str, Any]], standings: Iterable[Freshness]
) -> tuple[dict[str, dict[str, Any]], list[Alert]]:
    """The incidents after this check, and the alerts to send for the change.

    ``incidents`` maps a target to ``{"opened": iso, "newest": iso | None}`` (the
    newest good backup when the incident opened). An overdue target without an
    incident opens one; an incident whose target now has a newer good backup
    and is no longer overdue closes. Targets not assessed keep their incident
    untouched (a check that could not read one target neither opens nor
    closes anything for it).
    """
    after = {target: dict(incident) for target, incident in incidents.items()}
    alerts: list[Alert] = []
    for standing in standings:
        open_incident = after.get(standing.target)
        if standing.overdue and open_incident is None:
            after[standing.target] = {
                "opened": standing.now.isoformat(),
                "newest": None if standing.newest is None else standing.newest.isoformat(),
            }
            alerts.append(Alert("missed", standing, standing.now))
        elif not standing.overdue and open_incident is not None:
            del after[standing.target]
            opened = datetime.fromisoformat(open_incident["opened"])
            alerts.append(Alert("recovered", standing, opened))
    return after, alerts
