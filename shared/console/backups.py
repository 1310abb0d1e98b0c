"""``dr backups``, ``dr show``, ``dr backup --wait`` and ``dr unpack``: the catalog, readably.

Every backup is named by its run id; ``dr show`` prints its ``gs://`` URL,
which ``dr unpack`` and ``python -m shared.mongodb.job unpack`` both take.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from shared.catalog import CatalogEntry
from shared.clock import utc_now
from shared.console import output
from shared.console.session import Session, manifest_url
from shared.errors import BackupFailed, ConflictError, RequestError
from shared.manifest import MANUAL_TIER, TARGETS, TIERS, data_size

tier_option = click.option("--tier", "--type", "tier", type=click.Choice(TIERS), help="one tier")


def row(entry: CatalogEntry, now: datetime) -> dict[str, Any]:
    manifest = entry.manifest
    return {
        "id": entry.backup_id,
        "target": entry.location.target,
        "tier": entry.location.tier,
        "started": entry.time.isoformat(),
        "age": output.age(entry.time, now),
        "status": manifest.status if manifest else "incomplete",
        "size": data_size(manifest) if manifest else None,
        "counts": dict(manifest.counts) if manifest else {},
        "seconds": (manifest.finished - manifest.started).total_seconds() if manifest else None,
    }


@click.command("backups")
@click.argument("target", type=click.Choice(TARGETS), required=False)
@tier_option
@click.option("--all", "everything", is_flag=True, help="include failed and incomplete runs")
@output.json_flag
@click.pass_obj
def list_backups(
    session: Session, target: str | None, tier: str | None, everything: bool, as_json: bool
) -> int:
    """Backups, newest first: id, tier, age, status, size, counts."""
    now = utc_now()
    rows = []
    for name in session.targets(target):
        catalog = session.catalog(name)
        entries = catalog.entries(tier) if everything else catalog.backups(tier)
        rows += [row(entry, now) for entry in entries]
    if as_json:
        output.print_json(rows)
        return 0
    columns = ("id", "target", "tier", "age", "status", "size", "took", "counts")
    output.show(output.table(f"Backups ({session.environment.label})", columns, [
        (r["id"], r["target"], r["tier"], r["age"], r["status"], output.size(r["size"]),
         None if r["seconds"] is None else f"{r['seconds']:.1f} s", output.counts(r["counts"]))
        for r in rows
    ]))  # fmt: skip
    if not rows:
        click.echo(
            "no backups" + ("" if everything else " (--all shows failed and incomplete runs)")
        )
    return 0


@click.command("show")
@click.argument("backup")
@output.json_flag
@click.pass_obj
def show(session: Session, backup: str, as_json: bool) -> int:
    """One backup's manifest, readably: what, when, where, key, tool, source, counts, checksums."""
    from shared.console.retention import decisions

    entry = session.find(backup)
    catalog = session.catalog(entry.location.target)
    now = utc_now()
    verdict = next(
        (d for d in decisions(session, entry.location.target, catalog.entries(), now)
         if d.entry.backup_id == entry.backup_id),
        None,
    )  # fmt: skip
    url = manifest_url(entry, catalog.bucket.name)
    manifest = entry.manifest
    retention = (
        None if verdict is None else ("remove: " if verdict.remove else "keep: ") + verdict.reason
    )
    if as_json:
        output.print_json({"id": entry.backup_id, "manifest_url": url, "retention": retention,
                           "manifest": manifest.to_json() if manifest else None})  # fmt: skip
        return 0
    rows: list[tuple[str, Any]] = [
        ("id", entry.backup_id),
        ("where", url.rsplit("/", 1)[0] + "/"),
        ("target", f"{entry.location.target} {entry.location.tier}"),
    ]
    if manifest is None:
        rows.append(("status", f"incomplete ({len(entry.object_names)} objects, no manifest)"))
    else:
        rows += [
            ("status", manifest.status + (f": {manifest.error}" if manifest.error else "")),
            ("started", manifest.started.isoformat()),
            ("took", f"{(manifest.finished - manifest.started).total_seconds():.1f} s"),
            ("source", output.counts(dict(manifest.source))),
            ("counts", output.counts(dict(manifest.counts))),
            (
                "size",
                f"{output.size(data_size(manifest))} (artifacts {output.size(manifest.size)})",
            ),
            ("key id", manifest.key_id),
            ("compression", manifest.compression),
            ("tool", manifest.tool_version),
        ]
        rows += [
            ("artifact", f"{a.path}  {output.size(a.size)}  sha256 {a.sha256}  crc32c {a.crc32c}")
            for a in manifest.artifacts
        ]
    rows.append(("retention", retention))
    output.show(output.table(None, ("", ""), rows))
    return 0


@click.command("backup")
@click.argument("target", type=click.Choice(TARGETS))
@click.option(
    "--tier",
    "--type",
    "tier",
    type=click.Choice(TIERS),
    default=MANUAL_TIER,
    show_default=True,
    help="manual: kept by DR_RETENTION_MANUAL, never in a scheduled tier's place",
)
@click.option("--wait", is_flag=True, help="follow the run to its manifest")
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="seconds")
@output.json_flag
@click.pass_obj
def backup(
    session: Session, target: str, tier: str, wait: bool, timeout: float, as_json: bool
) -> int:
    """Start a backup now: publish the scheduler's message (and follow the run)."""
    catalog = session.catalog(target)
    before = {entry.backup_id for entry in catalog.entries(tier)}
    message_id = session.publish(target, {"tier": tier})
    token = hashlib.sha256(message_id.encode()).hexdigest()[:8]
    named = f"run *-{token}"
    click.echo(
        f"published {tier} {target} backup request (message {message_id}): {named}", err=True
    )
    if not wait:
        return 0
    began = time.monotonic()
    run_id: str | None = None
    with output.console(stderr=True).status(f"waiting for {named}") as spinner:
        while True:
            entries = catalog.entries(tier)
            fresh = [e for e in entries if e.backup_id not in before]
            if run_id is None and (found := _ours(fresh, token)) is not None:
                run_id = found.backup_id
                spinner.console.print(f"run id {run_id}")
            mine = [e for e in fresh if e.backup_id == run_id]
            if mine and mine[0].manifest is not None:
                break
            if time.monotonic() - began > timeout:
                raise ConflictError(
                    f"no manifest for {run_id or named} after {timeout:g} s; "
                    f"check later with: dr backups {target} --all"
                )
            running_for = output.duration_seconds(time.monotonic() - began)
            spinner.update(f"{run_id or named}: running for {running_for}")
            time.sleep(1.0)
    done = row(mine[0], utc_now())
    if as_json:
        output.print_json(done)
    else:
        click.echo(f"{done['status']}: {run_id} in {done['seconds']:.1f} s, "
                   f"{output.size(done['size'])}, {output.counts(done['counts'])}")  # fmt: skip
    return 0 if done["status"] == "succeeded" else BackupFailed.exit_code


def _ours(fresh: list[CatalogEntry], token: str) -> CatalogEntry | None:
    """The run our message started among the new ones, once it is there.

    Every trigger names its run after the Pub/Sub message (its id's SHA-256,
    8 hex digits, :func:`shared.events.trigger_run_id`), so only that run is ours.
    """
    return next((entry for entry in fresh if entry.backup_id.endswith(f"-{token}")), None)


@click.command("unpack")
@click.argument("backup")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--key-file", multiple=True, help="decrypt with this key file (repeatable)")
@click.pass_obj
def unpack(session: Session, backup: str, directory: Path, key_file: tuple[str, ...]) -> int:
    """Decrypt and unpack a MongoDB backup into mongodump's directory layout."""
    import os

    from shared.mongodb.commands import unpack_command

    entry = session.find(backup, "mongodb") if not Path(backup).is_file() else None
    if entry is not None and entry.manifest is None:
        raise RequestError(f"{backup} is an incomplete run: nothing to unpack")
    source = (
        backup if entry is None else manifest_url(entry, session.catalog("mongodb").bucket.name)
    )
    unpack_command(source=source, directory=directory, key_files=list(key_file),
                   config_file=session.config_file, environ=os.environ)  # fmt: skip
    click.echo(f"unpacked {backup} into {directory} (mongodump's layout, checked)")
    return 0
