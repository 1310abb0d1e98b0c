"""Missed-backup alerts: the pure decision as a table, then the check on real local servers.

The clock is injected: the check runs "hours later" without sleeping, against
real catalogs on fake-gcs-server, real mail (aiosmtpd) and a real webhook
receiver (pytest-httpserver).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from shared import config, freshness, storage, watchdog
from shared.config import BackupLocation, NotifySettings, WatchSettings
from shared.errors import ConfigError
from shared.freshness import Expectation, Freshness
from shared.notify import Notifier
from shared.secret import Secret
from tests import servers_mail
from tests.catalog_fixtures import run
from tests.devstack.functions import FunctionGroup, FunctionSpec
from tests.polling import wait_until
from tests.servers_mail import SmtpServer

smtp_server = servers_mail.smtp_server

T0 = datetime(2025, 3, 25, 1, 0, tzinfo=UTC)
DAILY = Expectation("mongodb", timedelta(days=1), timedelta(hours=3))


def standing(newest: datetime | None, now: datetime) -> Freshness:
    return Freshness(DAILY, newest, now)


@pytest.mark.parametrize(
    ("newest", "now", "overdue"),
    [
        (T0, T0 + timedelta(hours=26), False),
        (T0, T0 + timedelta(hours=27), False),  # exactly schedule + grace: still on time
        (T0, T0 + timedelta(hours=27, seconds=1), True),
        (None, T0, True),  # never backed up at all
    ],
)
def test_a_target_is_overdue_past_its_schedule_plus_grace(
    newest: datetime | None, now: datetime, overdue: bool
) -> None:
    assert standing(newest, now).overdue is overdue


def test_one_incident_per_outage_and_one_recovery() -> None:
    late = T0 + timedelta(hours=30)
    incidents, alerts = freshness.transition({}, [standing(T0, late)])
    assert [a.kind for a in alerts] == ["missed"]
    assert incidents["mongodb"]["newest"] == T0.isoformat()

    for hours in (31, 40, 100):  # still overdue: the incident stays open, silently
        incidents, alerts = freshness.transition(
            incidents, [standing(T0, T0 + timedelta(hours=hours))]
        )
        assert alerts == []
    assert "mongodb" in incidents

    good = T0 + timedelta(hours=101)
    incidents, alerts = freshness.transition(incidents, [standing(good, good)])
    assert [(a.kind, a.opened) for a in alerts] == [("recovered", late)]
    assert incidents == {}


def test_a_target_not_assessed_keeps_its_incident() -> None:
    incidents = {"gcs": {"opened": T0.isoformat(), "newest": None}}
    after, alerts = freshness.transition(incidents, [standing(T0, T0)])
    assert after == incidents
    assert alerts == []


def test_watch_settings_watch_every_configured_target() -> None:
    src = config.sources(
        environ={
            "MONGODB_GCS_BUCKET": "mongo-backups",
            "MONGODB_BACKUP_DIR": "/backups/mongodb",
            "GCS_BACKUP_BUCKET": "gcs-backups",
            "ENABLE_HOURLY": "true",
            "DR_STATE_BUCKET": "dr-state",
        }
    )
    settings = config.watch_settings(src)
    assert settings.locations == {
        "mongodb": BackupLocation("mongo-backups", "backups/mongodb/"),
        "gcs": BackupLocation("gcs-backups", ""),
    }
    assert settings.periods == {"mongodb": timedelta(hours=1), "gcs": timedelta(days=1)}
    assert settings.grace_minutes == 180


def test_watch_settings_name_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="MONGODB_GCS_BUCKET"):
        config.watch_settings(config.sources(environ={"DR_STATE_BUCKET": "dr-state"}))


# --- the check, on real servers ------------------------------------------------------------


def settings_for(bucket: Any, state: Any, smtp: SmtpServer, hook: str) -> WatchSettings:
    return WatchSettings(
        locations={"mongodb": BackupLocation(bucket.name)},
        periods={"mongodb": timedelta(days=1)},
        grace_minutes=180,
        state_bucket=state.name,
        notify=NotifySettings(
            emails=("ops@eyewear.example",),
            webhooks=(Secret(hook),),
            webhook_format="json",
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_starttls=False,
            timeout_seconds=5.0,
        ),
    )


@pytest.fixture
def state_bucket(storage_client: Any, bucket_name: str) -> Any:
    return storage_client.create_bucket(f"{bucket_name}-state")


CheckAt = Callable[[datetime], watchdog.CheckResult]


@pytest.fixture
def check_at(
    storage_client: Any,
    bucket: Any,
    state_bucket: Any,
    smtp_server: SmtpServer,
    httpserver: HTTPServer,
) -> CheckAt:
    """The freshness check of ``bucket`` at a given time, notifying real mail and webhook servers."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    settings = settings_for(bucket, state_bucket, smtp_server, httpserver.url_for("/hook"))
    return lambda now: watchdog.check(storage_client, settings, Notifier(settings.notify), now)


def test_a_stopped_schedule_is_announced_once_and_its_recovery_once(
    bucket: Any, check_at: CheckAt, smtp_server: SmtpServer, httpserver: HTTPServer
) -> None:
    run(bucket, "daily", T0)
    assert check_at(T0 + timedelta(hours=12)).healthy
    # The schedule stops: checks every hour for two days.
    outcomes = [check_at(T0 + timedelta(hours=h)) for h in range(13, 60)]
    assert sum(len(result.alerts) for result in outcomes) == 1
    first = next(result for result in outcomes if result.alerts)
    assert first.standings[0].now == T0 + timedelta(hours=28)  # the first hourly check past 27 h
    assert len(smtp_server.received) == 1
    assert "freshness check MISSED" in str(smtp_server.received[0].message["Subject"])
    hooks = [json.loads(request.get_data()) for request, _ in httpserver.log]
    assert [(h["target"], h["status"], h["severity"]) for h in hooks] == [
        ("mongodb", "missed", "error")
    ]

    # The next good backup: one recovery notice, then silence again.
    back = T0 + timedelta(hours=61)
    run(bucket, "daily", back)
    assert [a.kind for a in check_at(back + timedelta(minutes=5)).alerts] == ["recovered"]
    assert check_at(back + timedelta(hours=1)).alerts == ()
    assert len(smtp_server.received) == 2
    assert "RECOVERED" in str(smtp_server.received[1].message["Subject"])
    assert len(httpserver.log) == 2


def test_a_manual_backup_does_not_hide_a_stopped_schedule(bucket: Any, check_at: CheckAt) -> None:
    run(bucket, "daily", T0)
    late = T0 + timedelta(days=2)
    run(bucket, "manual", late - timedelta(hours=1))
    result = check_at(late)
    assert [a.kind for a in result.alerts] == ["missed"]
    assert result.standings[0].newest == T0


def test_two_checks_at_once_announce_an_incident_once(
    bucket: Any, check_at: CheckAt, smtp_server: SmtpServer
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    late = T0 + timedelta(days=3)
    run(bucket, "daily", T0)
    with ThreadPoolExecutor(4) as pool:  # four checks racing for the state's first write
        results = list(pool.map(check_at, [late] * 4))
    assert sum(len(result.alerts) for result in results) == 1
    assert len(smtp_server.received) == 1


def test_a_target_with_no_backup_at_all_is_missed(check_at: CheckAt) -> None:
    result = check_at(T0)
    assert [a.kind for a in result.alerts] == ["missed"]
    assert "no good backup at all" in (watchdog.alert_report(result.alerts[0]).error or "")


def test_the_deployed_check_reads_the_catalogs_and_records_the_incident(
    function_stack: Callable[..., FunctionGroup],
    pubsub_emulator: Any,
    storage_client: Any,
    bucket: Any,
    state_bucket: Any,
) -> None:
    """``dr_freshness`` under functions-framework, pushed by the Pub/Sub emulator."""
    env = {"GCS_BACKUP_BUCKET": bucket.name, "DR_STATE_BUCKET": state_bucket.name}
    function_stack(
        [FunctionSpec("dr_freshness", ("dr-freshness",), env=env)], services=("storage",)
    )
    pubsub_emulator.publish("dr-freshness", b"{}")  # what the schedule sends

    def incidents() -> Any:
        found = storage.read_json(state_bucket, watchdog.STATE_PATH)
        return found[0]["incidents"] if found else None

    opened = wait_until(incidents, timeout=60, what="the freshness state")
    assert list(opened) == ["gcs"]  # an empty backup bucket: no good backup at all
