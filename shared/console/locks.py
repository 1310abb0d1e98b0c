"""``dr unlock TARGET``: who holds a target's restore lock, since when; remove it if stale.

A lock is stale when it has expired, or when the request holding it has
already ended (its status record is final) and so will never release it.
A live lock is refused (exit 75) unless ``--force``: removing it lets a
second restore run over a running one.
"""

from __future__ import annotations

from datetime import datetime

import click

from shared import storage
from shared.clock import utc_now
from shared.console import output
from shared.console.session import Session
from shared.errors import ConflictError
from shared.manifest import TARGETS
from shared.restore.lock import lock_path
from shared.restore.status import FINAL_PHASES


@click.command("unlock")
@click.argument("target", type=click.Choice(TARGETS))
@click.option("--force", is_flag=True, help="remove the lock even if its holder looks alive")
@output.json_flag
@click.pass_obj
def unlock(session: Session, target: str, force: bool, as_json: bool) -> int:
    """Show a target's restore lock; remove it if stale (or with --force)."""
    bucket = session.state_bucket()
    found = storage.read_json(bucket, lock_path(target))
    if found is None:
        click.echo(f"{target}: no restore lock is held")
        return 0
    held, generation = found
    now = utc_now()
    holder = str(held.get("request_id"))
    record = session.status_store().get(holder)
    phase = record.phase if record is not None else "no status record"
    expires = datetime.fromisoformat(str(held.get("expires")))
    acquired = datetime.fromisoformat(str(held.get("acquired")))
    stale = expires <= now or phase in FINAL_PHASES
    facts = {
        "target": target,
        "request_id": holder,
        "holder_phase": phase,
        "acquired": acquired.isoformat(),
        "age": output.age(acquired, now),
        "expires": expires.isoformat(),
        "stale": stale,
    }
    click.echo(
        f"{target}: locked by request {holder} ({phase}) for {facts['age']}, "
        f"expires {expires:%Y-%m-%d %H:%M} UTC" + (" (stale)" if stale else ""),
        err=as_json,
    )
    if not stale and not force:
        raise ConflictError(
            f"the {target} lock is live (request {holder} is {phase}); "
            "wait for it, or remove it with --force if that request is really gone"
        )
    storage.delete(bucket, lock_path(target), generation=generation)
    facts["removed"] = True
    if as_json:
        output.print_json(facts)
    else:
        click.echo(f"{target}: lock removed")
    return 0
