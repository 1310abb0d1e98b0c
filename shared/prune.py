"""Retention with guard rails: decide with :func:`shared.retention.apply_policy`, then delete.

The pure core says what a policy means; this caller decides what is safe to
act on (restic's ``forget`` command does the same around its policy):

* An empty policy deletes nothing (a missing setting must not wipe backups).
  (A policy with any rule keeps the newest successful backup by itself.)
* The newest successful backup of each tier that is at least one schedule
  period old (:data:`shared.manifest.PERIODS`) is kept whatever the policy says. After an
  incident, newer backups may hold the damaged data, while the policy counts
  only backups: without this guard a manual backup or the next scheduled run
  could push the last good one out.
* Failed and incomplete runs are removed only after a grace period, so a run
  still in progress (or a failure someone is investigating) is left alone.
* A dry run decides the same way, logs every decision with its reason and
  deletes nothing.

A run is deleted manifest first: from that moment it is no longer a backup,
and if deleting its other objects is interrupted, the next prune finds an
incomplete run past its grace period and finishes the job.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared import storage
from shared.catalog import Catalog, CatalogEntry
from shared.manifest import PERIODS, TIERS
from shared.retention import Policy, apply_policy

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

log = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(days=2)


@dataclass(frozen=True)
class PruneDecision:
    entry: CatalogEntry
    remove: bool
    reason: str


def prune_target(
    catalog: Catalog, policy: Callable[[str], Policy], now: datetime, *, dry_run: bool = False
) -> list[PruneDecision]:
    """Decide over ``catalog``'s runs (:func:`decide`); remove what goes unless ``dry_run``.

    The one retention path of a run's end and of ``dr prune``; every decision is returned.
    """
    decisions = decide(catalog.entries(), policy, now)
    execute(catalog.bucket, decisions, dry_run)
    return decisions


def decide(
    entries: Sequence[CatalogEntry], policy: Callable[[str], Policy], now: datetime
) -> list[PruneDecision]:
    """Each tier's policy over its own series of ``entries``: a decision for every run.

    Each tier is a series of its own, so a manual backup never pushes a daily
    one out. ``dr retention`` shows these decisions; :func:`prune_target` acts on them.
    """
    series: dict[str, list[CatalogEntry]] = defaultdict(list)
    for entry in entries:
        series[entry.location.tier].append(entry)
    return [
        decision
        for tier in TIERS
        if series[tier]
        for decision in plan(series[tier], policy(tier), now)
    ]


def plan(
    entries: Sequence[CatalogEntry], policy: Policy, now: datetime, grace: timedelta = DEFAULT_GRACE
) -> list[PruneDecision]:
    """One decision with its reason for every run in ``entries`` (one series, e.g. one tier)."""
    backups = [entry for entry in entries if entry.ok]
    decisions: list[PruneDecision] = []
    if policy.is_empty():
        return [
            PruneDecision(e, False, "no retention rule is set: nothing is deleted") for e in entries
        ]
    decision = apply_policy(backups, policy, now)
    last_good = _last_good(backups, now)
    for entry in decision.keep:
        decisions.append(PruneDecision(entry, False, ", ".join(decision.reasons[entry.backup_id])))
    for entry in decision.remove:
        if entry.backup_id in last_good:
            decisions.append(PruneDecision(entry, False, last_good[entry.backup_id]))
        else:
            decisions.append(PruneDecision(entry, True, f"outside policy ({policy.describe()})"))
    for entry in entries:
        if entry.ok:
            continue
        state = "failed" if entry.complete else "incomplete"
        if now - entry.time > grace:
            decisions.append(PruneDecision(entry, True, f"{state} run older than {grace}"))
        else:
            decisions.append(
                PruneDecision(entry, False, f"{state} run within its {grace} grace period")
            )
    decisions.sort(key=lambda d: (d.entry.time, d.entry.backup_id), reverse=True)
    return decisions


def _last_good(backups: Sequence[CatalogEntry], now: datetime) -> dict[str, str]:
    """The guard: per tier, the newest successful backup at least one period old, with why."""
    guarded: dict[str, str] = {}
    tiers: set[str] = set()
    by_id = sorted(backups, key=lambda e: e.backup_id)  # equal times: as apply_policy orders
    for entry in sorted(by_id, key=lambda e: e.time, reverse=True):
        tier = entry.location.tier
        period, name = PERIODS[tier]
        if tier not in tiers and entry.time <= now - period:
            tiers.add(tier)
            guarded[entry.backup_id] = (
                f"newest {tier} backup older than {name} (kept: newer ones may hold damaged data)"
            )
    return guarded


def execute(
    bucket: Bucket, decisions: Sequence[PruneDecision], dry_run: bool
) -> list[CatalogEntry]:
    """Log every decision; unless ``dry_run``, delete the removed runs. Returns those removed."""
    removed: list[CatalogEntry] = []
    for decision in decisions:
        verb = ("would delete" if dry_run else "delete") if decision.remove else "keep"
        log.info(
            "retention: %s %s: %s",
            verb,
            decision.entry.describe(),
            decision.reason,
            extra={
                "fields": {
                    "retention": {
                        "run_id": decision.entry.backup_id,
                        "action": verb,
                        "reason": decision.reason,
                    }
                }
            },
        )
        if decision.remove and not dry_run:
            delete_run(bucket, decision.entry)
            removed.append(decision.entry)
    return removed


def delete_run(bucket: Bucket, entry: CatalogEntry) -> None:
    """Delete a run's objects, manifest first (see the module docstring)."""
    manifest_path = entry.location.manifest_path
    names = sorted(entry.object_names, key=lambda name: name != manifest_path)
    for name in names:
        storage.delete(bucket, name)
