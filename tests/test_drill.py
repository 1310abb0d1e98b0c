"""Recovery drills and the status page on the deployed platform (the demo's data).

One stack for the module: the functions behind Pub/Sub push, the MongoDB job
through the Cloud Run stand-in, Firestore imports through the Admin API
stand-in. A drill publishes real ``dr-restore`` requests in test mode and
follows their status records; the page is opened in headless Chromium.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared import config, statuspage
from shared.catalog import Catalog
from shared.clock import utc_now
from shared.drill import figures, handlers, run
from shared.errors import NotFound
from shared.manifest import TARGETS
from shared.notify import Notifier
from tests import browser, eyewear
from tests.conftest import patched_environ
from tests.operator import operator_home, run_dr

BACKUPS = (("gcs", "daily"), ("firestore", "daily"), ("mongodb", "daily"))


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, require_installed: Any
) -> Iterator[eyewear.Platform]:
    require_installed(*eyewear.STACK_SERVICES, "functions")
    with eyewear.running_platform(tmp_path_factory.mktemp("drill"), BACKUPS) as platform:
        env = {**platform.settings, "GOOGLE_CLOUD_PROJECT": platform.stack.project}
        with patched_environ(env):
            yield platform


def drill_settings() -> config.DrillSettings:
    return config.drill_settings(config.sources())


def run_drill(drill_id: str) -> dict[str, Any]:
    from shared.clients import storage_client

    settings = drill_settings()
    client = storage_client()
    now = datetime.now(UTC)
    run.start(client, settings, drill_id, now, "test")
    return run.follow(
        client,
        settings,
        drill_id,
        handlers.publisher(settings),
        Notifier(settings.watch.notify),
        utc_now,
        time.sleep,
    )


# --- pure figures --------------------------------------------------------------------------

T0 = datetime(2025, 3, 25, tzinfo=UTC)


def test_rpo_is_the_newest_age_and_the_largest_gap_in_the_window() -> None:
    times = [T0, T0 + timedelta(days=1), T0 + timedelta(days=4), T0 + timedelta(days=5)]
    rpo = figures.rpo(times, T0 + timedelta(days=5, hours=2), timedelta(days=30))
    assert rpo.age == timedelta(hours=2)
    assert rpo.largest_gap == timedelta(days=3)
    assert rpo.backups_in_window == 4
    assert figures.rpo([], T0, timedelta(days=1)).age is None


def test_rto_is_request_to_end_with_each_phase() -> None:
    record = {
        "phases": [
            {"phase": "Accepted", "at": "2025-03-25T00:00:00+00:00"},
            {"phase": "InProgress", "at": "2025-03-25T00:00:05+00:00"},
            {"phase": "Completed", "at": "2025-03-25T00:01:05+00:00"},
        ],
        "finished": "2025-03-25T00:01:05+00:00",
    }
    rto = figures.rto(record)
    assert rto.total == timedelta(seconds=65)
    assert rto.phases == (
        ("Accepted", timedelta(seconds=5)),
        ("InProgress", timedelta(seconds=60)),
    )


def test_findings_name_each_missed_objective() -> None:
    rpo = figures.Rpo(timedelta(hours=30), timedelta(hours=50), 3)
    rto = figures.Rto(timedelta(hours=5), (), "Completed")
    found = figures.findings(
        "gcs", rpo, rto, True, figures.Objectives(timedelta(hours=26), timedelta(hours=4))
    )
    assert len(found) == 3
    assert "30h" not in " ".join(found)  # durations read as 1d 06h 00m, not raw hours
    assert any("RTO objective of 4h 00m 00s" in f for f in found)


# --- on the platform -----------------------------------------------------------------------


def scratch_places(platform: eyewear.Platform) -> dict[str, set[str]]:
    """Everything a test restore could leave behind: databases, buckets, Firestore databases."""
    import pymongo

    from shared.clients import firestore_admin_client

    client: Any
    with pymongo.MongoClient(platform.stack.mongo.uri()) as client:
        databases = set(client.list_database_names())
    admin = firestore_admin_client()
    parent = f"projects/{platform.stack.project}"
    return {
        "mongodb": databases,
        "buckets": {b.name for b in eyewear.clients_storage().list_buckets()},
        "firestore": {d.name for d in admin.list_databases(parent=parent).databases},
    }


def test_dr_drill_restores_every_target_and_prints_rpo_and_rto(
    platform: eyewear.Platform, tmp_path: Path
) -> None:
    home = operator_home(tmp_path, platform)
    before = scratch_places(platform)
    began = time.monotonic()
    done = run_dr(("drill",), home, {})
    took = time.monotonic() - began
    assert done.returncode == 0, done.stdout + done.stderr
    assert took < 120, f"the drill took {took:.0f} s"
    assert scratch_places(platform) == before  # every scratch copy was removed
    header = next(line for line in done.stdout.splitlines() if "RPO objective" in line)
    assert "RTO objective" in header
    for target in TARGETS:
        [row] = [line for line in done.stdout.splitlines() if line.startswith(target)]
        assert "passed" in row
    [report] = json.loads(run_dr(("drills", "--json"), home, {}).stdout)
    assert report["passed"], report["findings"]
    for target, data in report["targets"].items():
        assert data["rpo"]["age_seconds"] is not None, target
        assert data["rto_seconds"] is not None, target
        assert data["rto_objective_seconds"] is not None, target
        assert all(r["verified"] is True for r in data["restores"]), target
    assert len(report["targets"]["gcs"]["restores"]) == len(eyewear.SOURCE_BUCKETS)
    stored = eyewear.clients_storage().bucket(eyewear.BACKUP_BUCKET)
    markdown = stored.blob(f"drills/{report['drill_id']}/report.md").download_as_text()
    assert f"Recovery drill {report['drill_id']}: PASSED" in markdown
    summaries = [h for h in platform.webhook.received if "recovery drill" in json.dumps(h)]
    assert len(summaries) == 1


def test_a_redelivered_drill_start_names_the_same_drill() -> None:
    from shared.events import PubSubMessage

    message = PubSubMessage(b'{"action": "start"}', "4242", publish_time="2026-01-01T09:00:00Z")
    now = datetime(2026, 1, 1, 9, 0, 30, tzinfo=UTC)
    assert handlers.drill_id_for(message, now) == handlers.drill_id_for(
        message, now + timedelta(minutes=10)
    )


def test_a_drill_that_does_not_exist_is_not_found_naming_where_it_was_looked_for(
    platform: eyewear.Platform,
) -> None:
    from shared.clients import storage_client

    settings = drill_settings()
    with pytest.raises(NotFound) as caught:
        run.advance(storage_client(), settings, "drill-19990101T000000Z", lambda body: None,
                    Notifier(settings.watch.notify), utc_now())  # fmt: skip
    where = f"gs://{settings.watch.state_bucket}/{run.PREFIX}"
    assert str(caught.value) == f"no drill drill-19990101T000000Z in {where}"
    assert caught.value.exit_code == 66


def test_the_status_page_renders_in_a_real_browser(
    platform: eyewear.Platform, tmp_path: Path, require_installed: Any
) -> None:
    require_installed("browser")
    home = operator_home(tmp_path / "operator", platform)
    path = tmp_path / "status.html"
    done = run_dr(("report", "--open", str(path)), home, {})
    assert done.returncode == 0, done.stderr
    page = path.read_text(encoding="utf-8")
    assert "<script" not in page
    # Nothing fetched: every asset is inline (only in-page "#id" references).
    assert re.findall(r'(?:src|href)="(?!#)[^"]*"|url\((?!#)|@import', page) == []
    rendered = browser.render(path)
    assert rendered.console == []
    for target in TARGETS:
        assert f'id="target-{target}"' in rendered.dom
    assert "drill-" in rendered.dom  # the drill history
    assert "No open incident." in rendered.dom
    assert "<svg" in rendered.dom
    # DR_SCREENSHOT_DIR=tests/data refreshes the README's picture of the page.
    pictures = Path(os.environ.get("DR_SCREENSHOT_DIR") or tmp_path)
    assert browser.screenshot(path, pictures / "status-page.png").stat().st_size > 10_000
    published = run_dr(("report",), home, {})
    assert published.stdout.strip().endswith(statuspage.PAGE_PATH), published.stderr
    stored = eyewear.clients_storage().bucket(eyewear.STATE_BUCKET).blob(statuspage.PAGE_PATH)
    assert "<svg" in stored.download_as_text()


def test_a_drill_with_a_damaged_backup_fails_that_target_and_runs_the_others(
    platform: eyewear.Platform,
) -> None:
    stored = eyewear.clients_storage().bucket(eyewear.BACKUP_BUCKET)
    [newest] = Catalog(stored, "mongodb").backups()[:1]
    assert newest.manifest is not None
    archive = stored.blob(newest.location.path(newest.manifest.artifacts[0].path))
    data = bytearray(archive.download_as_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the middle of the archive
    archive.upload_from_string(bytes(data))

    report = run_drill("drill-damaged")
    assert not report["passed"]
    mongodb = report["targets"]["mongodb"]
    assert not mongodb["passed"]
    assert any("Failed" in finding for finding in mongodb["findings"]), mongodb["findings"]
    assert report["targets"]["gcs"]["passed"]
    assert report["targets"]["firestore"]["passed"]
