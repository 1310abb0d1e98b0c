"""Copy one shard, record its result once, and complete the run if it was the last one.

Delivery is at least once, so everything here may run twice, even at the same
time: the result (the shard's part of the snapshot with its summary,
:mod:`shared.gcs.parts`) is created with ``if_generation_match=0`` (the second
delivery finds it, or loses the race, and does nothing), and the copies are
themselves idempotent (:mod:`shared.gcs.copier`). A shard whose copies fail
after retries still reports, listing the failed objects, so the run ends
with a FAILED manifest naming them instead of waiting forever; a shard that
keeps crashing (killed, out of memory, timed out) is recorded as failed on
its ``MAX_ATTEMPTS``-th attempt.

Attempts are counted here, in an object beside the shard's work list, not
taken from Pub/Sub's delivery count: functions-framework does not pass that
count on, and a push a busy instance refused counts there but never ran here.
"""

from __future__ import annotations

import logging

from shared import logs, storage
from shared.errors import ConflictError, DRError, IntegrityError, RequestError
from shared.gcs import parts, run_completion
from shared.gcs.context import GcsContext
from shared.gcs.copier import CopyOutcome, copy_entry
from shared.gcs.run import ShardRef, ShardResult, TodoItem, todo_path
from shared.manifest import Manifest

log = logging.getLogger(__name__)

# Below the shard subscription's max_delivery_attempts, so a shard that keeps crashing is
# recorded as failed (and the run fails loudly) before Pub/Sub gives up on its message.
MAX_ATTEMPTS = 5
_COUNT_RETRIES = 10


def write_todo(ctx: GcsContext, shard: ShardRef, items: list[TodoItem]) -> None:
    """Record the shard's work list, once: a repeated listing step re-submits it unchanged."""
    path = todo_path(shard.location, shard.key, shard.index)
    try:
        storage.create_json(
            ctx.backup_bucket(), path, [item.to_json() for item in items], compact=True
        )
    except ConflictError:
        log.info("%s: its work list was recorded before; keeping it", shard.describe())


def attempts_path(shard: ShardRef) -> str:
    return shard.location.path(f"attempts/{shard.key}/{shard.index:06d}.json")


def count_attempt(ctx: GcsContext, shard: ShardRef) -> int:
    """Record one more attempt at ``shard``; returns this attempt's number (1, 2, ...)."""
    backup, path = ctx.backup_bucket(), attempts_path(shard)
    for _ in range(_COUNT_RETRIES):
        found = storage.read_json(backup, path)
        count = int(found[0].get("count", 0)) + 1 if found else 1
        try:
            if found is None:
                storage.create_json(backup, path, {"count": count})
            else:
                storage.replace_json(backup, path, {"count": count}, found[1])
        except ConflictError:
            continue  # a concurrent delivery counted too: count again on top of it
        return count
    raise ConflictError(f"{shard.describe()}: its attempt counter kept changing")


def process_shard(ctx: GcsContext, shard: ShardRef, complete: bool = True) -> Manifest | None:
    """Do ``shard`` unless done; returns the run's manifest once the run is complete.

    ``complete=False`` leaves completing the run to the caller (the lister, when
    shards run in its own process): it saves every shard a look at the run.
    """
    with logs.run_context(run_id=shard.location.run_id, target="gcs"):
        backup = ctx.backup_bucket()
        if storage.read_json(backup, shard.location.manifest_path) is not None:
            log.info("%s: the run has already ended; nothing to do", shard.describe())
            return None
        if parts.recorded(backup, shard):
            log.info("%s: already done (a repeated delivery)", shard.describe())
        elif not parts.record(backup, shard, *_run(ctx, shard)):
            log.info("%s: a concurrent delivery recorded its result first", shard.describe())
        return run_completion.complete_run(ctx, shard.location, shard) if complete else None


def _run(ctx: GcsContext, shard: ShardRef) -> tuple[ShardResult, set[str]]:
    """The shard's result, and the names of its critical files."""
    path = todo_path(shard.location, shard.key, shard.index)
    where = f"gs://{ctx.settings.backup_bucket}/{path}"
    found = storage.read_json(ctx.backup_bucket(), path)
    if found is None:
        raise RequestError(
            f"{shard.describe()}: its work list {where} does not exist (the run was removed, "
            "or the message is for another backup bucket)"
        )
    try:
        if not isinstance(found[0], list):
            raise IntegrityError(f"{where} is not a work list")
        items = [TodoItem.from_json(item, f"{where} item {n}") for n, item in enumerate(found[0])]
    except DRError as exc:
        log.error("%s cannot run: %s", shard.describe(), exc)
        return ShardResult(failed=((f"(shard {shard.index})", str(exc)),)), set()
    critical = {item.entry.name for item in items if item.critical}
    reused = [item.entry for item in items if item.reuse]
    pending = [item.entry for item in items if not item.reuse]
    attempt = count_attempt(
        ctx, shard
    )  # only for a shard that exists: a stray message writes nothing
    if attempt > MAX_ATTEMPTS:
        log.error("%s was attempted %d times without completing", shard.describe(), attempt - 1)
        error = f"shard attempted {attempt - 1} times without completing"
        failed = tuple((entry.name, error) for entry in pending)
        return ShardResult(entries=tuple(reused), reused=len(reused), failed=failed), critical
    source, backup = shard.bucket, ctx.settings.backup_bucket
    outcomes = iter(
        list(
            ctx.parallel(
                lambda entry: copy_entry(ctx.bucket(source), ctx.bucket(backup), entry), pending
            )
        )
    )
    result = _result([item if item.reuse else next(outcomes) for item in items])
    log.info(
        "%s: %d objects, %d copied, %d reused, %d already copied, %d failed",
        shard.describe(),
        len(items),
        result.copied,
        result.reused,
        result.existing,
        len(result.failed),
        extra={"fields": {"shard": shard.index, "bucket": shard.bucket}},
    )
    return result, critical


def _result(outcomes: list[TodoItem | CopyOutcome]) -> ShardResult:
    """The shard's result, its entries in listing (name) order."""
    entries, vanished, changed, failed = [], [], [], []
    counts = {"copied": 0, "existing": 0, "reused": 0}
    for outcome in outcomes:
        if isinstance(outcome, TodoItem):
            entries.append(outcome.entry)
            counts["reused"] += 1
        elif outcome.entry is not None:
            entries.append(outcome.entry)
            counts[outcome.kind] += 1
            if outcome.changed:
                changed.append(outcome.name)
        elif outcome.kind == "vanished":
            vanished.append(outcome.name)
        else:
            failed.append((outcome.name, outcome.error or "unknown error"))
    return ShardResult(
        entries=tuple(entries),
        copied=counts["copied"],
        reused=counts["reused"],
        existing=counts["existing"],
        vanished=tuple(vanished),
        changed=tuple(changed),
        failed=tuple(failed),
    )
