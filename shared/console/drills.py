"""``dr drill``, ``dr drills``, ``dr report``: recovery drills and the status page, on demand.

``dr drill`` is the scheduled drill run from a terminal: it requests the test
restores through ``dr-restore`` (the deployment's own path), follows them,
prints RPO and RTO per target against the objectives, and stores the same
report the scheduled drill stores. Its exit code says whether the drill
passed (0) or found something (70, with every finding printed).
"""

from __future__ import annotations

import getpass
import socket
import sys
import time
import webbrowser
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from shared import config
from shared.clock import utc_now
from shared.console import output
from shared.console.session import Session
from shared.errors import BackupFailed

DRILL_FAILED = BackupFailed.exit_code


def _settings(session: Session) -> config.DrillSettings:
    return config.drill_settings(session.sources)


def _seconds(value: float | None) -> str:
    return "-" if value is None else output.duration_seconds(value)


def _progress(state: Mapping[str, Any], seen: set[str]) -> None:
    """One line on standard error per test restore, when it is requested."""
    for target, entry in state["targets"].items():
        for restore in entry["restores"]:
            if restore["published"] and restore["request_id"] not in seen:
                seen.add(restore["request_id"])
                click.echo(f"  {target}: requested {restore['request_id']}", err=True)


def _show(report: Mapping[str, Any]) -> None:
    rows = []
    for target, data in report["targets"].items():
        backup = data.get("backup") or {}
        rows.append(
            [
                target,
                "passed" if data["passed"] else "FAILED",
                backup.get("id"),
                _seconds(data["rpo"]["age_seconds"]),
                _seconds(data["rpo"]["largest_gap_seconds"]),
                _seconds(data["rpo_objective_seconds"]),
                _seconds(data["rto_seconds"]),
                _seconds(data["rto_objective_seconds"]),
            ]
        )
    columns = ["target", "result", "backup", "RPO", "largest gap", "RPO objective", "RTO",
               "RTO objective"]  # fmt: skip
    verdict = "PASSED" if report["passed"] else "FAILED"
    output.show(output.table(f"Recovery drill {report['drill_id']}: {verdict}", columns, rows))
    for finding in report["findings"]:
        click.echo(f"  finding: {finding}")


@click.command("drill")
@output.json_flag
@click.pass_obj
def drill(session: Session, as_json: bool) -> int:
    """Test-restore every target's newest backup; RPO and RTO against the objectives."""
    from shared.drill import run
    from shared.notify import Notifier

    settings = _settings(session)
    client = session.storage
    now = utc_now()
    drill_id = f"drill-{now:%Y%m%dT%H%M%SZ}"
    who = f"dr drill ({getpass.getuser()}@{socket.gethostname()})"
    run.start(client, settings, drill_id, now, who)
    click.echo(
        f"drill {drill_id}: test restores of {', '.join(settings.watch.locations)}", err=True
    )
    seen: set[str] = set()
    report = run.follow(
        client,
        settings,
        drill_id,
        lambda body: session.publish("restore", dict(body)),
        Notifier(settings.watch.notify),
        utc_now,
        time.sleep,
        on_change=lambda state: _progress(state, seen),
    )
    if as_json:
        output.print_json(report)
    else:
        _show(report)
        click.echo(f"report: gs://{settings.report_bucket}/{run.report_path(drill_id)}")
    return 0 if report["passed"] else DRILL_FAILED


@click.command("drills")
@output.json_flag
@click.pass_obj
def drills(session: Session, as_json: bool) -> int:
    """The drills run so far, newest first, with each target's result."""
    from shared.drill import run

    reports = run.reports(session.storage, _settings(session))
    if as_json:
        output.print_json(reports)
        return 0
    rows = [
        [
            report["drill_id"],
            report["started"][:16].replace("T", " "),
            "passed" if report["passed"] else "FAILED",
            ", ".join(
                f"{target} {'ok' if data['passed'] else 'FAILED'}"
                for target, data in report["targets"].items()
            ),
            len(report["findings"]),
        ]
        for report in reports
    ]
    output.show(output.table(None, ["drill", "started (UTC)", "result", "targets", "findings"],
                             rows))  # fmt: skip
    if not reports:
        click.echo("no drill has run yet: `dr drill` runs one")
    return 0


@click.command("report")
@click.option("--open", "local", metavar="FILE", help="write the page to FILE and open it")
@click.pass_obj
def report(session: Session, local: str | None) -> int:
    """Render the status page; publish it to the state bucket (or write it locally)."""
    from shared import statuspage

    settings = _settings(session)
    client = session.storage
    page = statuspage.render(statuspage.collect(client, settings, utc_now()))
    if local is None:
        click.echo(f"status page: {statuspage.publish(client, settings, page)}")
        return 0
    path = Path(local).resolve()
    path.write_text(page, encoding="utf-8")
    click.echo(f"status page: {path}")
    if sys.stdout.isatty():
        webbrowser.open(path.as_uri())
    return 0
