"""The scheduled freshness check: read the catalogs, update the incidents, notify once.

Runs from its own schedule (``dr-freshness`` → ``dr_freshness``), independent of
the backups it watches, so a backup that never starts is still noticed. The
decision is :mod:`shared.freshness` (pure); this module does the reading and
writing around it:

1. the newest good *scheduled* backup of every watched target, from its
   catalog (a manual backup is welcome, but it does not prove the schedule runs);
2. the open incidents from ``freshness/incidents.json`` in the state bucket,
   with the generation read;
3. the new incidents, when they changed, written back *with that generation*
   before anything is sent: of two checks running at once only one write succeeds, so only one of
   them announces an incident (the other re-reads and finds it already open);
4. one notification per opened or closed incident.

A target whose catalog cannot be read is reported in the check's result and
left out of the transition: an unreadable bucket neither opens nor closes an
incident on its own (the errors alert covers the failure to read).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import freshness, reporting, storage
from shared.catalog import Catalog
from shared.clock import Clock, utc_now
from shared.config import WatchSettings
from shared.errors import ConflictError, DRError
from shared.freshness import Alert, Expectation, Freshness
from shared.manifest import MANUAL_TIER
from shared.notify import RunReport

if TYPE_CHECKING:
    from google.cloud.storage import Client

    from shared.events import PubSubMessage
    from shared.reporting import ReportSink

log = logging.getLogger(__name__)

STATE_PATH = "freshness/incidents.json"
ATTEMPTS = 3  # concurrent checks: re-read and decide again, a bounded number of times


@dataclass(frozen=True)
class CheckResult:
    """What one check saw and did; ``unreadable`` maps a target to why it could not be read."""

    standings: tuple[Freshness, ...]
    alerts: tuple[Alert, ...]
    incidents: Mapping[str, Mapping[str, Any]]
    unreadable: Mapping[str, str]

    @property
    def healthy(self) -> bool:
        return not self.incidents and not self.unreadable


def expectations(settings: WatchSettings) -> list[Expectation]:
    grace = timedelta(minutes=settings.grace_minutes)
    return [Expectation(target, settings.periods[target], grace) for target in settings.locations]


def newest_good_backups(
    client: Client, settings: WatchSettings
) -> tuple[dict[str, datetime | None], dict[str, str]]:
    """Each target's newest good backup time (None: none at all), and the targets unreadable."""
    newest: dict[str, datetime | None] = {}
    unreadable: dict[str, str] = {}
    for target, where in settings.locations.items():
        catalog = Catalog(client.bucket(where.bucket), target, where.prefix)
        try:
            good = catalog.backups()
        except DRError as exc:
            unreadable[target] = f"{type(exc).__name__}: {exc}"
            continue
        scheduled = [entry for entry in good if entry.location.tier != MANUAL_TIER]
        newest[target] = scheduled[0].time if scheduled else None
    return newest, unreadable


def check(client: Client, settings: WatchSettings, sink: ReportSink, now: datetime) -> CheckResult:
    """One freshness check at ``now``: update the incidents and send what changed."""
    newest, unreadable = newest_good_backups(client, settings)
    watched = [e for e in expectations(settings) if e.target not in unreadable]
    standings = freshness.assess(watched, newest, now)
    state_bucket = client.bucket(settings.state_bucket)
    for _ in range(ATTEMPTS):
        found = storage.read_json(state_bucket, STATE_PATH)
        before = found[0].get("incidents", {}) if found else {}
        incidents, alerts = freshness.transition(before, standings)
        payload = {"changed": now.isoformat(), "incidents": incidents}
        try:
            if found is None:
                storage.create_json(state_bucket, STATE_PATH, payload)
            elif incidents != before:  # an unchanged state is not rewritten: no race to lose
                storage.replace_json(state_bucket, STATE_PATH, payload, found[1])
        except ConflictError:
            log.info("another freshness check wrote %s first; deciding again", STATE_PATH)
            continue
        for alert in alerts:
            reporting.deliver(alert_report(alert), sink)
        for standing in standings:
            log.info("freshness: %s", standing.describe())
        return CheckResult(tuple(standings), tuple(alerts), incidents, unreadable)
    raise ConflictError(f"gs://{settings.state_bucket}/{STATE_PATH} kept changing during the check")


def alert_report(alert: Alert) -> RunReport:
    """An incident as a notification: ``missed`` (opened) or ``recovered`` (closed)."""
    standing = alert.freshness
    details = {
        "Newest good backup": (
            standing.newest.isoformat(timespec="seconds") if standing.newest else "none"
        ),
        "Allowed age": f"{standing.expectation.allowed_age}",
        "Incident opened": alert.opened.isoformat(timespec="seconds"),
    }
    missed = alert.kind == "missed"
    return RunReport(
        target=standing.target,
        operation="freshness check",
        status=alert.kind,
        run_id=f"freshness-{standing.target}-{alert.opened:%Y%m%dT%H%M%SZ}",
        started=alert.opened,
        finished=standing.now,
        error=(f"missed backup: {standing.describe()}" if missed else None),
        details=details,
    )


def on_check_message(message: PubSubMessage, clock: Clock = utc_now) -> CheckResult:
    """``dr-freshness``: the body is ignored (the schedule sends ``{}``); runs at ``clock()``."""
    from shared import clients, config
    from shared.notify import Notifier

    message.json()  # a malformed body is still worth a clear error line
    settings = config.watch_settings(config.sources(secrets=clients.secret_access()))
    client = clients.storage_client()
    result = check(client, settings, Notifier(settings.notify), clock())
    if result.unreadable:
        log.error("freshness check could not read: %s", dict(result.unreadable))
    return result
