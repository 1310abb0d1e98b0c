"""The old scripts' grandfather-father-son retention, one series per tier.

Each tier is its own series: ``RETENTION_DAILY=30`` keeps the newest daily
backup of each of the 30 most recent days that have one, and so on for
``RETENTION_WEEKLY``, ``RETENTION_MONTHLY`` and (when ``ENABLE_HOURLY``)
``HOURLY_RETENTION``; manual backups keep ``DR_RETENTION_MANUAL``
(:func:`shared.config.tier_retention`). Deletion goes through
:mod:`shared.prune`'s guard rails.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shared import prune
from shared.catalog import Catalog, CatalogEntry
from shared.config import TierRetention

if TYPE_CHECKING:
    from google.cloud.storage import Bucket


def prune_tier(
    bucket: Bucket,
    prefix: str,
    tier: str,
    retention: TierRetention,
    now: datetime,
    *,
    dry_run: bool = False,
) -> list[CatalogEntry]:
    """Apply the tier's policy to its series; the runs removed (or that would be)."""
    entries = Catalog(bucket, "mongodb", prefix).entries(tier)
    decisions = prune.plan(entries, retention.policy(tier), now)
    removed = prune.execute(bucket, decisions, dry_run)
    return removed if not dry_run else [d.entry for d in decisions if d.remove]
