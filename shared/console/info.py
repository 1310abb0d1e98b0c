"""``dr info``: every target at a glance, and an exit code that says whether all is well.

For each target and tier: the newest complete backup with its age, size and
counts, how many runs failed or are incomplete, and whether the newest good
backup is fresh for its schedule; then what retention would remove now and
which restores are running. Exit 0 when every target has a backup and no tier
is stale or failing, else 70 (the problems are listed). A tier that has never
run is shown and not judged; a target without any backup is a problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import click

from shared.catalog import CatalogEntry
from shared.clock import utc_now
from shared.console import output, retention
from shared.console.session import Session
from shared.errors import BackupFailed
from shared.manifest import PERIODS, SCHEDULED_TIERS, TIERS, data_size


def tier_state(
    entries: Sequence[CatalogEntry], tier: str, now: datetime, grace: timedelta
) -> dict[str, Any]:
    """The facts ``dr info`` shows for one tier of one target.

    A scheduled tier is stale when its newest good backup is older than its
    period plus ``grace`` (``DR_FRESHNESS_GRACE_MINUTES``, the missed-backup
    alert's rule); the manual tier has no schedule to be late for.
    """
    runs = [entry for entry in entries if entry.location.tier == tier]
    good = [entry for entry in runs if entry.ok]
    complete = [entry for entry in runs if entry.complete]
    newest = good[0] if good else None
    state = "never run"
    if complete and not complete[0].ok:
        state = "FAILING"
    elif newest is not None:
        stale = tier in SCHEDULED_TIERS and now - newest.time > PERIODS[tier][0] + grace
        state = "STALE" if stale else "ok"
    elif runs:
        state = "no complete backup"
    facts: dict[str, Any] = {
        "tier": tier,
        "state": state,
        "runs": len(runs),
        "failed": sum(entry.complete and not entry.ok for entry in runs),
        "incomplete": sum(not entry.complete for entry in runs),
        "newest": None,
    }
    if newest is not None and newest.manifest is not None:
        facts["newest"] = {
            "id": newest.backup_id,
            "age_seconds": int((now - newest.time).total_seconds()),
            "size": data_size(newest.manifest),
            "counts": dict(newest.manifest.counts),
        }
    return facts


def gather(session: Session, now: datetime) -> dict[str, Any]:
    targets: list[dict[str, Any]] = []
    problems: list[str] = []
    grace = timedelta(minutes=session.settings.grace_minutes)
    for target in session.targets():
        entries = session.catalog(target).entries()
        tiers = [tier_state(entries, tier, now, grace) for tier in TIERS]
        tiers = [facts for facts in tiers if facts["runs"]] or tiers[1:2]
        found = retention.decisions(session, target, entries, now)
        targets.append({
            "target": target,
            "tiers": tiers,
            "retention": {"runs": len(found), "would_remove": sum(d.remove for d in found)},
        })  # fmt: skip
        if not any(entry.ok for entry in entries):
            problems.append(f"{target}: no complete backup at all")
        problems += [
            f"{target} {facts['tier']}: {facts['state']}"
            for facts in tiers
            if facts["state"] in ("STALE", "FAILING")
        ]
    from shared.console.restore import running

    return {"targets": targets, "restores_running": running(session), "problems": problems}


@click.command("info")
@output.json_flag
@click.pass_obj
def info(session: Session, as_json: bool) -> int:
    """Every target at a glance: newest backups, freshness, retention, running restores."""
    now = utc_now()
    facts = gather(session, now)
    if as_json:
        output.print_json(facts)
    else:
        _print(facts, session)
    return BackupFailed.exit_code if facts["problems"] else 0


def _runs(tier: dict[str, Any]) -> str:
    parts = [f"{tier['runs']}"]
    parts += [f"{tier[kind]} {kind}" for kind in ("failed", "incomplete") if tier[kind]]
    return ", ".join(parts)


def _print(facts: dict[str, Any], session: Session) -> None:
    rows = []
    for target in facts["targets"]:
        for tier in target["tiers"]:
            newest = tier["newest"] or {}
            age = newest.get("age_seconds")
            rows.append((
                target["target"], tier["tier"], newest.get("id"),
                None if age is None else output.duration(timedelta(seconds=age)),
                output.size(newest.get("size")), output.counts(newest.get("counts") or {}),
                _runs(tier),
                tier["state"],
            ))  # fmt: skip
    columns = ("target", "tier", "newest backup", "age", "size", "counts", "runs", "state")
    console = output.console()
    output.show(output.table(f"Backups ({session.environment.label})", columns, rows))
    for target in facts["targets"]:
        kept = target["retention"]
        console.print(
            f"retention {target['target']}: {kept['would_remove']} of {kept['runs']} run(s) "
            "would be removed now (dr retention)"
        )
    running = facts["restores_running"]
    if running:
        output.show(output.table("Restores running", ("request", "target", "phase", "since"), [
            (r["request_id"], r["target"], r["phase"], r["created"]) for r in running
        ]))  # fmt: skip
    else:
        console.print("restores running: none")
    if facts["problems"]:
        console.print("PROBLEMS: " + "; ".join(facts["problems"]))
    else:
        console.print("All targets have fresh backups.")
