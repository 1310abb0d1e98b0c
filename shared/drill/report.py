"""A drill's report: one JSON document (the record), its Markdown rendering, one notification.

The JSON is what ``dr drills`` and the status page read; the Markdown is what
an auditor reads ("document the issues found"); the notification is the
one-line-per-target summary an operator sees. All three are built from the
same :func:`build` result, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.drill import figures
from shared.drill.figures import Objectives, Rpo
from shared.notify import RunReport
from shared.notify.message import human_duration

SCHEMA = "eyewearml.dr.drill_report.v1"


def rpo_json(rpo: Rpo) -> dict[str, Any]:
    return {
        "age_seconds": _seconds(rpo.age),
        "largest_gap_seconds": _seconds(rpo.largest_gap),
        "backups_in_window": rpo.backups_in_window,
    }


def _seconds(span: timedelta | None) -> float | None:
    return None if span is None else span.total_seconds()


def _span(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


def build(
    state: Mapping[str, Any],
    records: Mapping[str, Mapping[str, Any] | None],
    objectives: Mapping[str, tuple[timedelta | None, timedelta | None]],
    now: datetime,
) -> dict[str, Any]:
    """The report of a finished drill from its state and the restores' status records."""
    targets: dict[str, Any] = {}
    all_findings: list[str] = []
    for target, entry in state["targets"].items():
        rpo_objective, rto_objective = objectives.get(target, (None, None))
        wanted = Objectives(rpo_objective, rto_objective)
        rpo_data = entry.get("rpo") or {}
        rpo = Rpo(
            _span(rpo_data.get("age_seconds")),
            _span(rpo_data.get("largest_gap_seconds")),
            int(rpo_data.get("backups_in_window", 0)),
        )
        restores, found = [], []
        if entry.get("error") and not entry["restores"]:
            found.append(f"{target}: {entry['error']}")
        for restore in entry["restores"]:
            record = records.get(restore["request_id"])
            rto = None if record is None else figures.rto(record)
            result = (record or {}).get("result") or {}
            verified = result.get("verified")
            errors = list((record or {}).get("errors") or [])
            found += figures.findings(target, rpo, rto, verified, wanted, errors)
            restores.append(
                {
                    "request_id": restore["request_id"],
                    "phase": None if rto is None else rto.phase,
                    "verified": verified,
                    "counts": result.get("counts", {}),
                    "destination": result.get("destination"),
                    "rto_seconds": _seconds(rto.total if rto else None),
                    "phases": [
                        {"phase": name, "seconds": span.total_seconds()}
                        for name, span in (rto.phases if rto else ())
                    ],
                }
            )
        if not entry["restores"] and not found:
            found.append(f"{target}: nothing was restored")
        targets[target] = {
            "backup": entry.get("backup"),
            "rpo": rpo_json(rpo),
            "rpo_objective_seconds": _seconds(rpo_objective),
            "rto_objective_seconds": _seconds(rto_objective),
            "rto_seconds": _total(restores),
            "restores": restores,
            "findings": sorted(set(found)),
            "passed": not found,
        }
        all_findings += sorted(set(found))
    return {
        "schema": SCHEMA,
        "drill_id": state["drill_id"],
        "started": state["started"],
        "finished": now.isoformat(),
        "requested_by": state.get("requested_by", ""),
        "passed": not all_findings,
        "targets": targets,
        "findings": all_findings,
    }


def _total(restores: list[dict[str, Any]]) -> float | None:
    """A target's RTO: its restores one after the other (None if any did not end)."""
    spans = [r["rto_seconds"] for r in restores]
    return None if not spans or None in spans else float(sum(spans))


def _show(seconds: float | None) -> str:
    return "—" if seconds is None else human_duration(timedelta(seconds=seconds))


def target_line(target: str, data: Mapping[str, Any]) -> str:
    """``mongodb: PASSED · RPO 2h 03m (objective 1d 03h) · RTO 45.2s (objective 4h 00m)``."""
    verdict = "PASSED" if data["passed"] else "FAILED"
    rpo = data["rpo"]
    return (
        f"{target}: {verdict} · RPO {_show(rpo['age_seconds'])} "
        f"(objective {_show(data['rpo_objective_seconds'])}, largest gap "
        f"{_show(rpo['largest_gap_seconds'])}) · RTO {_show(data['rto_seconds'])} "
        f"(objective {_show(data['rto_objective_seconds'])})"
    )


def markdown(drill: Mapping[str, Any]) -> str:
    """The report for people: verdict, a table per target, every phase, every finding."""
    verdict = "PASSED" if drill["passed"] else "FAILED"
    lines = [
        f"# Recovery drill {drill['drill_id']}: {verdict}",
        "",
        f"Started {drill['started']}, finished {drill['finished']}"
        + (f", requested by {drill['requested_by']}" if drill.get("requested_by") else "")
        + ".",
        "",
        "| Target | Result | Backup restored | RPO (age / largest gap) | RPO objective "
        "| RTO | RTO objective |",
        "|---|---|---|---|---|---|---|",
    ]
    for target, data in drill["targets"].items():
        backup = data.get("backup") or {}
        rpo = data["rpo"]
        lines.append(
            f"| {target} | {'passed' if data['passed'] else 'FAILED'} "
            f"| {backup.get('tier', '—')} {backup.get('id', '—')} "
            f"| {_show(rpo['age_seconds'])} / {_show(rpo['largest_gap_seconds'])} "
            f"| {_show(data['rpo_objective_seconds'])} | {_show(data['rto_seconds'])} "
            f"| {_show(data['rto_objective_seconds'])} |"
        )
    lines += ["", "## Restores", ""]
    for target, data in drill["targets"].items():
        for restore in data["restores"]:
            phases = ", ".join(f"{p['phase']} {_show(p['seconds'])}" for p in restore["phases"])
            lines.append(
                f"- **{target}** `{restore['request_id']}`: {restore['phase'] or 'not started'}, "
                f"verified {restore['verified']}, RTO {_show(restore['rto_seconds'])}"
                + (f" ({phases})" if phases else "")
            )
    lines += ["", "## Findings", ""]
    lines += [f"- {finding}" for finding in drill["findings"]] or ["- none"]
    return "\n".join(lines) + "\n"


def summary(drill: Mapping[str, Any], where: str) -> RunReport:
    """The one notification of a drill."""
    details = {target: target_line(target, data) for target, data in drill["targets"].items()}
    details["Report"] = where
    return RunReport(
        target="all",
        operation="recovery drill",
        status="passed" if drill["passed"] else "failed",
        run_id=str(drill["drill_id"]),
        started=datetime.fromisoformat(drill["started"]),
        finished=datetime.fromisoformat(drill["finished"]),
        error="; ".join(drill["findings"]) or None,
        details=details,
    )
