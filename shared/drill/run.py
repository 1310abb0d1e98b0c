"""A recovery drill from start to report: request test restores, follow them, measure, report.

A drill restores, in test mode, the newest good backup of every watched
target through ``dr-restore`` (the path a real restore takes), so it proves
the whole chain: catalog, request, lock, restore, verification, clean-up.
Restores of different targets run at once; the restores of one target (one
per source bucket for Cloud Storage) run one after the other, since a target
takes one restore at a time.

The drill's state is ``drills/<id>/drill.json`` in the state bucket, changed
only through generation preconditions, so the scheduled drill function, a
``dr drill`` waiting in a terminal and a redelivered message can all
:func:`advance` the same drill without publishing a request twice (and a
request published twice would still run once: its ``request_id`` is fixed).
When every restore has ended, or the drill's time is up, :func:`advance`
writes the report (JSON and Markdown, in the report bucket), notifies one
summary, and marks the drill finished.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import reporting, storage
from shared.catalog import Catalog, CatalogEntry
from shared.clock import Clock
from shared.config import DrillSettings
from shared.drill import figures, report
from shared.errors import ConflictError, DRError, NotFound
from shared.restore.status import FINAL_PHASES, StatusStore

if TYPE_CHECKING:
    from google.cloud.storage import Client

    from shared.reporting import ReportSink

log = logging.getLogger(__name__)

PREFIX = "drills/"
Publish = Callable[[Mapping[str, Any]], object]  # a message id or nothing


def state_path(drill_id: str) -> str:
    return f"{PREFIX}{drill_id}/drill.json"


def restore_requests(target: str, entry: CatalogEntry, drill_id: str) -> list[dict[str, Any]]:
    """The test-mode ``dr-restore`` requests that restore ``entry``, in order."""
    location = entry.location
    if target == "gcs":
        buckets = entry.manifest.source.get("buckets", []) if entry.manifest else []
        # version_date has whole seconds: the end of the snapshot's start second names it.
        started = entry.manifest.started if entry.manifest else entry.time
        at = (started + timedelta(seconds=1)).replace(microsecond=0)
        return [
            {
                "target": "gcs",
                "source_bucket": bucket,
                "version_date": at.isoformat(),
                "test_mode": True,
                "request_id": f"{drill_id}-gcs-{bucket}",
            }
            for bucket in buckets
        ]
    body: dict[str, Any] = {
        "target": target,
        "date": location.slot[:10],
        "type": location.tier,
        "test_mode": True,
        "request_id": f"{drill_id}-{target}",
    }
    if location.tier == "hourly":
        body["hour"] = int(location.slot[11:13])
    return [body]


def start(
    client: Client, settings: DrillSettings, drill_id: str, now: datetime, requested_by: str
) -> dict[str, Any]:
    """Record a new drill (its targets, backups and RPO figures); returns its state.

    Publishes nothing: :func:`advance` does, so starting twice (a redelivered
    message) finds the drill already recorded and changes nothing.
    """
    window = timedelta(days=settings.window_days)
    targets: dict[str, Any] = {}
    for target, where in settings.watch.locations.items():
        catalog = Catalog(client.bucket(where.bucket), target, where.prefix)
        try:
            good = catalog.backups()
        except DRError as exc:
            targets[target] = {"error": f"{type(exc).__name__}: {exc}", "restores": []}
            continue
        rpo = figures.rpo((e.time for e in good), now, window)
        entry = good[0] if good else None
        targets[target] = {
            "backup": None if entry is None else _describe(entry),
            "rpo": report.rpo_json(rpo),
            "restores": [
                {"request_id": body["request_id"], "body": body, "published": None}
                for body in (restore_requests(target, entry, drill_id) if entry else [])
            ],
            "error": None if entry else "no good backup to restore",
        }
    state = {
        "drill_id": drill_id,
        "started": now.isoformat(),
        "requested_by": requested_by,
        "finished": None,
        "targets": targets,
    }
    try:
        storage.create_json(client.bucket(settings.watch.state_bucket), state_path(drill_id), state)
    except ConflictError:
        log.info("drill %s was already started", drill_id)
        found = storage.read_json(client.bucket(settings.watch.state_bucket), state_path(drill_id))
        if found is None:
            raise
        return dict(found[0])
    log.info("drill %s started for %s", drill_id, ", ".join(targets))
    return state


def advance(
    client: Client,
    settings: DrillSettings,
    drill_id: str,
    publish: Publish,
    sink: ReportSink,
    now: datetime,
) -> dict[str, Any]:
    """Publish each target's next restore once the one before has ended; finish when all have."""
    state_bucket = client.bucket(settings.watch.state_bucket)
    store = StatusStore(state_bucket)
    found = storage.read_json(state_bucket, state_path(drill_id))
    if found is None:
        raise NotFound(f"no drill {drill_id} in gs://{state_bucket.name}/{PREFIX}")
    state, generation = dict(found[0]), found[1]
    if state["finished"]:
        return state
    records: dict[str, Mapping[str, Any] | None] = {}
    to_publish: list[Mapping[str, Any]] = []
    for entry in state["targets"].values():
        for restore in entry["restores"]:
            record = store.get(restore["request_id"])
            records[restore["request_id"]] = None if record is None else record.data
            if restore["published"] is None:
                restore["published"] = now.isoformat()
                to_publish.append(restore["body"])
                break
            if record is None or record.phase not in FINAL_PHASES:
                break  # this target's current restore is still running
    ended = all(
        (records.get(r["request_id"]) or {}).get("phase") in FINAL_PHASES
        for entry in state["targets"].values()
        for r in entry["restores"]
    )
    timed_out = now >= datetime.fromisoformat(state["started"]) + timedelta(
        minutes=settings.timeout_minutes
    )
    if ended or timed_out:
        state["finished"] = now.isoformat()
    storage.replace_json(state_bucket, state_path(drill_id), state, generation)
    for body in to_publish:  # only the caller whose state write won publishes
        publish(body)
    if state["finished"]:
        _finish(client, settings, state, records, sink, now)
    return state


def _finish(
    client: Client,
    settings: DrillSettings,
    state: Mapping[str, Any],
    records: Mapping[str, Mapping[str, Any] | None],
    sink: ReportSink,
    now: datetime,
) -> None:
    drill = report.build(state, records, settings.objectives, now)
    bucket = client.bucket(settings.report_bucket)
    markdown = report_path(state["drill_id"]).replace(".json", ".md")
    bucket.blob(markdown).upload_from_string(
        report.markdown(drill), content_type="text/markdown; charset=utf-8"
    )
    storage.create_json(bucket, report_path(state["drill_id"]), drill)  # last: the commit point
    reporting.deliver(report.summary(drill, f"gs://{bucket.name}/{markdown}"), sink)


def open_drills(client: Client, settings: DrillSettings) -> list[str]:
    """Drills started and not yet finished, oldest first."""
    bucket = client.bucket(settings.watch.state_bucket)
    ids = []
    for blob in client.list_blobs(bucket, prefix=PREFIX, retry=storage.retry_policy()):
        if blob.name.endswith("/drill.json"):
            found = storage.read_json(bucket, blob.name)
            if found is not None and not found[0].get("finished"):
                ids.append(str(found[0]["drill_id"]))
    return sorted(ids)


def reports(client: Client, settings: DrillSettings) -> list[dict[str, Any]]:
    """Every finished drill's report, newest first."""
    bucket = client.bucket(settings.report_bucket)
    found = [
        json.loads(blob.download_as_bytes())
        for blob in client.list_blobs(bucket, prefix=PREFIX, retry=storage.retry_policy())
        if blob.name.endswith("/report.json")
    ]
    return sorted(found, key=lambda drill: str(drill["started"]), reverse=True)


def _describe(entry: CatalogEntry) -> dict[str, Any]:
    return {
        "id": entry.backup_id,
        "tier": entry.location.tier,
        "time": entry.time.isoformat(),
        "manifest": entry.location.manifest_path,
    }


def follow(
    client: Client,
    settings: DrillSettings,
    drill_id: str,
    publish: Publish,
    sink: ReportSink,
    clock: Clock,
    sleep: Callable[[float], None],
    on_change: Callable[[Mapping[str, Any]], None] = lambda state: None,
    interval: float = 1.0,
) -> dict[str, Any]:
    """Advance ``drill_id`` until it finishes (its own timeout bounds the wait); the report."""
    while True:
        try:
            state = advance(client, settings, drill_id, publish, sink, clock())
        except ConflictError:  # the scheduled follow-up advanced it at the same moment
            sleep(interval)
            continue
        on_change(state)
        if state["finished"]:
            found = storage.read_json(client.bucket(settings.report_bucket), report_path(drill_id))
            if found is None:  # another party finished it a moment ago and is still writing
                sleep(interval)
                continue
            return dict(found[0])
        sleep(interval)


def report_path(drill_id: str) -> str:
    return f"{PREFIX}{drill_id}/report.json"
