"""The one end of a backup run: committed once, reported once, whoever races to it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from shared import storage
from shared.backup_end import COMMITTER, RunEnd, end_backup
from shared.config import TierRetention
from shared.manifest import Manifest, RunLocation, new_run_id
from shared.retention import Policy
from tests.gcsfixtures import KeptReports

NOW = datetime(2025, 3, 25, 1, 2, 3, tzinfo=UTC)


def _end(bucket: Any, reports: KeptReports) -> RunEnd:
    retention = TierRetention({"daily": Policy(last=5)})
    return RunEnd(bucket, "objects", "", retention, reports, lambda: NOW)


def _manifest() -> Manifest:
    location = RunLocation("", "objects", "daily", new_run_id(NOW, "0123abcd"))
    return Manifest(location, "succeeded", NOW, NOW, {"where": "test"}, counts={"objects": 3})


def test_steps_racing_with_identical_manifests_commit_once_and_report_once(bucket: Any) -> None:
    reports = KeptReports()
    manifest = _manifest()
    with ThreadPoolExecutor(4) as pool:
        ended = list(pool.map(lambda _: end_backup(_end(bucket, reports), manifest), range(4)))
    assert {m.to_json()["run_id"] for m in ended} == {manifest.location.run_id}
    assert len(reports.sent) == 1
    assert reports.sent[0].details["Retention"] == "no run removed"


def test_the_manifest_records_who_committed_it(bucket: Any) -> None:
    manifest = _manifest()
    end_backup(_end(bucket, KeptReports()), manifest)
    blob = bucket.get_blob(manifest.location.manifest_path, retry=storage.retry_policy())
    assert len((blob.metadata or {})[COMMITTER]) == 16
    stored = storage.read_json(bucket, manifest.location.manifest_path)
    assert stored is not None
    assert Manifest.from_json(stored[0], "test") == manifest
