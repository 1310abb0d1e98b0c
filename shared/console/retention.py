"""``dr retention`` (every keep/remove decision, with its reason) and ``dr prune`` (apply them).

The decisions are the ones the backup runs make after each backup, through
the same policies and guard rails (:mod:`shared.prune`): an empty policy
deletes nothing, the newest good backup of a series is always kept, failed
and incomplete runs go only after their grace period. ``dr prune`` applies
them with each target's own retention code, so a prune from the console and
one after a backup cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import click

from shared import config
from shared.catalog import CatalogEntry
from shared.clock import utc_now
from shared.console import output
from shared.console.session import Session
from shared.manifest import TARGETS
from shared.prune import PruneDecision, decide


def decisions(
    session: Session, target: str, entries: Sequence[CatalogEntry], now: datetime
) -> list[PruneDecision]:
    """Every run's decision, tier by tier (each tier is its own series).

    The target's settings are loaded only when it has runs to decide on.
    """
    if not entries:
        return []
    return decide(entries, config.target_retention(session.sources, target).policy, now)


def _rows(target: str, found: Sequence[PruneDecision], now: datetime) -> list[list[str]]:
    return [
        [
            target,
            d.entry.location.tier,
            d.entry.backup_id,
            output.age(d.entry.time, now),
            "remove" if d.remove else "keep",
            d.reason,
        ]
        for d in found
    ]


@click.command("retention")
@click.argument("target", type=click.Choice(TARGETS), required=False)
@click.option("--dry-run", is_flag=True, default=True, help="only show decisions (the default)")
@output.json_flag
@click.pass_obj
def retention(session: Session, target: str | None, dry_run: bool, as_json: bool) -> int:
    """Show every keep/remove decision retention would make now, with its reason."""
    now = utc_now()
    rows: list[list[str]] = []
    for name in session.targets(target):
        found = decisions(session, name, session.catalog(name).entries(), now)
        rows += _rows(name, found, now)
    if as_json:
        keys = ("target", "tier", "run_id", "age", "action", "reason")
        output.print_json([dict(zip(keys, row, strict=True)) for row in rows])
        return 0
    columns = ("target", "tier", "backup", "age", "action", "reason")
    output.show(output.table("Retention (dry run: nothing is deleted)", columns, rows))
    removed = sum(row[4] == "remove" for row in rows)
    click.echo(f"{removed} run(s) would be removed; `dr prune` removes them.")
    return 0


@click.command("prune")
@click.argument("target", type=click.Choice(TARGETS), required=False)
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@output.json_flag
@click.pass_obj
def prune(session: Session, target: str | None, yes: bool, as_json: bool) -> int:
    """Apply retention now: delete the runs `dr retention` marks remove."""
    now = utc_now()
    plans = {
        name: [
            d for d in decisions(session, name, session.catalog(name).entries(), now) if d.remove
        ]
        for name in session.targets(target)
    }
    total = sum(len(found) for found in plans.values())
    if total and not yes and not as_json:
        click.confirm(f"Delete {total} run(s) as listed by `dr retention`?", abort=True)
    summary = {name: _apply(session, name, found, now) for name, found in plans.items()}
    if as_json:
        output.print_json(summary)
    else:
        for name, text in summary.items():
            click.echo(f"{name}: {text}")
    return 0


def _apply(session: Session, target: str, found: Sequence[PruneDecision], now: datetime) -> str:
    if not found:
        return "nothing to remove"
    if target == "gcs":  # runs, then the copies no kept snapshot references
        from shared.backup_end import apply_retention
        from shared.gcs.context import GcsContext
        from shared.gcs.sweep import run_end

        with GcsContext(config.gcs_settings(session.sources)) as ctx:
            return apply_retention(run_end(ctx))
    from shared.prune import execute

    removed = execute(session.catalog(target).bucket, found, dry_run=False)
    return f"removed {len(removed)} run(s)"
