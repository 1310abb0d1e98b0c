"""The status page: one self-contained HTML file an operator opens at 3 a.m.

Per target, the newest backups and their age against the schedule; a chart of
backup sizes and durations over time; restore and drill history with RPO and
RTO against the objectives; any open missed-backup incident. Everything is
inline (CSS, SVG charts from :mod:`shared.charts`), nothing is fetched, no
script runs: the file can be mailed, archived or opened from a bucket.

:func:`collect` reads (catalogs, status records, drill reports, the freshness
state); :func:`render` only lays out what it is given, with every value
HTML-escaped (object names and error texts are data, not markup).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import charts, freshness, storage, watchdog
from shared.catalog import Catalog, CatalogEntry
from shared.config import DrillSettings
from shared.drill import run
from shared.manifest import data_size
from shared.notify.message import human_duration, human_size

if TYPE_CHECKING:
    from google.cloud.storage import Client

PAGE_PATH = "status/index.html"
NEWEST = 5
HISTORY = 20


@dataclass(frozen=True)
class PageData:
    generated: datetime
    standings: Sequence[freshness.Freshness]
    backups: Mapping[str, Sequence[CatalogEntry]]  # newest first, complete or not
    incidents: Mapping[str, Mapping[str, Any]]
    restores: Sequence[Mapping[str, Any]]  # status records, newest first
    drills: Sequence[Mapping[str, Any]]  # drill reports, newest first


def collect(client: Client, settings: DrillSettings, now: datetime) -> PageData:
    """Read everything the page shows; the reads are the ones ``dr info`` makes."""
    watch = settings.watch
    backups = {
        target: Catalog(client.bucket(where.bucket), target, where.prefix).entries()
        for target, where in watch.locations.items()
    }
    newest = {
        target: next((e.time for e in entries if e.ok), None) for target, entries in backups.items()
    }
    standings = freshness.assess(watchdog.expectations(watch), newest, now)
    state_bucket = client.bucket(watch.state_bucket)
    found = storage.read_json(state_bucket, watchdog.STATE_PATH)
    incidents = found[0].get("incidents", {}) if found else {}
    return PageData(
        generated=now,
        standings=standings,
        backups=backups,
        incidents=incidents,
        restores=_recent_restores(client, state_bucket),
        drills=run.reports(client, settings)[:HISTORY],
    )


def _recent_restores(client: Client, bucket: Any) -> list[Mapping[str, Any]]:
    blobs = [
        blob
        for blob in client.list_blobs(bucket, prefix="restores/", retry=storage.retry_policy())
        if blob.name.endswith("/status.json")
    ]
    blobs.sort(key=lambda blob: blob.updated, reverse=True)
    records = [storage.read_json(bucket, blob.name) for blob in blobs[:HISTORY]]
    return [record[0] for record in records if record is not None]


def publish(client: Client, settings: DrillSettings, page: str) -> str:
    """Write the page to the state bucket (operators only, as the bucket is); returns its URL."""
    blob = client.bucket(settings.watch.state_bucket).blob(PAGE_PATH)
    blob.cache_control = "no-store"
    blob.upload_from_string(page, content_type="text/html; charset=utf-8")
    return f"gs://{settings.watch.state_bucket}/{PAGE_PATH}"


# --- rendering ---------------------------------------------------------------------------

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2430;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e6ea}th{background:#f5f6f8}
.ok{color:#17733a}.bad{color:#b3261e;font-weight:600}.card{border:1px solid #d9dde3;
border-radius:6px;padding:8px 12px;margin:12px 0}.incident{background:#fdecea;border-color:#b3261e}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _seconds(value: float | None) -> str:
    return "—" if value is None else _e(human_duration(timedelta(seconds=value)))


def _target_section(data: PageData, standing: freshness.Freshness) -> str:
    target = standing.target
    mark = "bad" if standing.overdue else "ok"
    age = "no good backup" if standing.age is None else human_duration(standing.age)
    rows = []
    for entry in data.backups.get(target, ())[:NEWEST]:
        manifest = entry.manifest
        status = "incomplete" if manifest is None else manifest.status
        rows.append(
            [
                _e(entry.location.tier),
                f"<code>{_e(entry.backup_id)}</code>",
                _e(entry.time.isoformat(timespec="minutes")),
                _e(human_duration(data.generated - entry.time)),
                _e(human_size(data_size(manifest))) if manifest else "—",
                _e(human_duration(manifest.finished - manifest.started)) if manifest else "—",
                f'<span class="{"ok" if entry.ok else "bad"}">{_e(status)}</span>',
            ]
        )
    table = _table(["Tier", "Backup", "Started (UTC)", "Age", "Size", "Duration", "Status"], rows)
    allowed = human_duration(standing.expectation.allowed_age)
    return (
        f'<div class="card" id="target-{_e(target)}"><h2>{_e(target)}</h2>'
        f'<p>Newest good backup: <span class="{mark}">{_e(age)} old</span> '
        f"(allowed {_e(allowed)})</p>{table}</div>"
    )


def _charts(data: PageData) -> str:
    sizes: dict[str, list[tuple[datetime, float]]] = {}
    durations: dict[str, list[tuple[datetime, float]]] = {}
    for target, entries in data.backups.items():
        for entry in entries:
            if entry.manifest is not None and entry.ok:
                manifest = entry.manifest
                sizes.setdefault(target, []).append((entry.time, data_size(manifest) / 2**20))
                minutes = (manifest.finished - manifest.started).total_seconds() / 60
                durations.setdefault(target, []).append((entry.time, minutes))
    return charts.history_svg(sizes, durations, "Backups over time")


def _restores(data: PageData) -> str:
    rows = []
    for record in data.restores:
        request = record.get("request") or {}
        result = record.get("result") or {}
        phase = str(record.get("phase", ""))
        rows.append(
            [
                f"<code>{_e(record.get('request_id'))}</code>",
                _e(request.get("target")),
                f'<span class="{"ok" if phase == "Completed" else "bad"}">{_e(phase)}</span>',
                _e(result.get("backup")),
                _e(result.get("destination")),
                _e(record.get("created", "")[:16]),
            ]
        )
    headers = ["Request", "Target", "Phase", "Backup", "Destination", "Requested (UTC)"]
    return _table(headers, rows) if rows else "<p>No restores yet.</p>"


def _drills(data: PageData) -> str:
    rows = []
    for drill in data.drills:
        for target, figures in drill["targets"].items():
            rows.append(
                [
                    _e(drill["drill_id"]),
                    _e(target),
                    f'<span class="{"ok" if figures["passed"] else "bad"}">'
                    f"{'passed' if figures['passed'] else 'FAILED'}</span>",
                    _seconds(figures["rpo"]["age_seconds"]),
                    _seconds(figures["rpo_objective_seconds"]),
                    _seconds(figures["rto_seconds"]),
                    _seconds(figures["rto_objective_seconds"]),
                    _e("; ".join(figures["findings"])),
                ]
            )
    headers = ["Drill", "Target", "Result", "RPO", "RPO objective", "RTO", "RTO objective"]
    return _table([*headers, "Findings"], rows) if rows else "<p>No drills yet.</p>"


def render(data: PageData, title: str = "EyewearML disaster recovery") -> str:
    """The page, as one HTML document with everything inline."""
    incidents = "".join(
        f'<div class="card incident"><strong>Missed backup: {_e(target)}</strong> since '
        f"{_e(incident.get('opened'))} (newest good backup then: "
        f"{_e(incident.get('newest') or 'none')})</div>"
        for target, incident in sorted(data.incidents.items())
    )
    sections = "".join(_target_section(data, standing) for standing in data.standings)
    calm = '<p class="ok">No open incident.</p>'
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width"><style>{STYLE}</style></head><body>'
        f"<h1>{_e(title)}</h1><p>Generated {_e(data.generated.isoformat(timespec='seconds'))}"
        f"</p>{incidents or calm}{sections}"
        f'<h2>Backup sizes and durations</h2><div class="chart">{_charts(data)}</div>'
        f"<h2>Restores</h2>{_restores(data)}<h2>Drills</h2>{_drills(data)}</body></html>"
    )
