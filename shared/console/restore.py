"""``dr restore`` (plan, confirm, publish, follow), ``dr restores`` and ``dr status``.

``dr restore TARGET`` takes the old scripts' flags, builds the ``dr-restore``
message and validates it with the dispatcher's own schema, so a typo fails
here. On a terminal it first publishes the same request as a dry run and
shows the plan (what would be written and overwritten), then asks; a
production overwrite the dispatcher refuses is shown with the exact name to
type. ``--yes`` (and ``--confirm NAME`` for production) skip the questions
for scripts. Then it follows the request to its end (:mod:`shared.console.follow`).
"""

from __future__ import annotations

import getpass
import json
import re
import secrets
import shlex
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import click

from shared import registry
from shared.clock import utc_now
from shared.console import output, records
from shared.console.follow import Detached, follow
from shared.console.session import TOPICS, Session
from shared.errors import ConflictError, NotFound
from shared.manifest import TARGETS, TIERS
from shared.restore import schema
from shared.restore.ending import exit_code_for
from shared.restore.status import FINAL_PHASES, PREFIX

INTERRUPTED = 130


def new_request_id(now: datetime) -> str:
    """``dr.<user>.<time>.<4 hex>``: unique, and says who asked (``dr restores`` shows it)."""
    user = re.sub(r"[^A-Za-z0-9_-]", "_", getpass.getuser())[:32] or "unknown"
    return f"dr.{user}.{now:%Y%m%dT%H%M%SZ}.{secrets.token_hex(2)}"


def request_body(target: str, flags: Mapping[str, Any]) -> dict[str, Any]:
    """The dr-restore JSON for the flags given (unset ones left out), validated."""
    body = {"target": target, **{k: v for k, v in flags.items() if v not in (None, False, ())}}
    if isinstance(body.get("collection_ids"), str):
        body["collection_ids"] = [c for c in body["collection_ids"].split(",") if c]
    schema.validate(body, registry.shapes())
    return body


@click.command("restore")
@click.argument("target", type=click.Choice(TARGETS))
@click.option("--date", help="YYYY-MM-DD (MongoDB, Firestore)")
@click.option("--type", "type_", type=click.Choice(TIERS), help="backup tier")
@click.option("--hour", type=int, help="0-23, with --type hourly")
@click.option("--target-db", help="MongoDB: restore into this database")
@click.option("--drop", is_flag=True, help="MongoDB: drop collections before restoring")
@click.option("--target-project", help="Firestore: restore into this project")
@click.option("--target-database", help="Firestore: restore into this database")
@click.option("--collection-ids", help="Firestore: comma-separated collection ids")
@click.option("--rewrite-references", is_flag=True, help="Firestore: point references at the copy")
@click.option("--source-bucket", help="Cloud Storage: the bucket whose backup to restore")
@click.option("--target-bucket", help="Cloud Storage: restore into this bucket")
@click.option("--version-date", help="Cloud Storage: YYYY-MM-DD or a timestamp with a zone")
@click.option("--delete-extra", is_flag=True, help="Cloud Storage: delete objects not in it")
@click.option("--test-mode", is_flag=True, help="restore into a scratch copy, verify, delete it")
@click.option("--dry-run", is_flag=True, help="only plan")
@click.option("--confirm", help="the production name a real overwrite must repeat")
@click.option("--request-id", help="idempotency key (default: dr.<user>.<time>.<random>)")
@click.option("--yes", is_flag=True, help="no plan and no question (for scripts)")
@click.option("--print", "print_only", is_flag=True, help="print the message and gcloud command")
@click.option("--no-wait", is_flag=True, help="publish and return")
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="seconds")
@output.json_flag
@click.pass_obj
def restore(session: Session, /, target: str, **flags: Any) -> int:
    """Request a restore through dr-restore (the old scripts' flags), then follow it."""
    options = {k: flags.pop(k) for k in ("yes", "print_only", "no_wait", "timeout", "as_json")}
    flags["type"] = flags.pop("type_")
    body = request_body(target, flags)
    if options["print_only"]:
        message = json.dumps(body, ensure_ascii=False)
        click.echo(message)
        click.echo(
            f"gcloud pubsub topics publish {TOPICS['restore']} --message {shlex.quote(message)}"
        )
        return 0
    body.setdefault("request_id", new_request_id(utc_now()))
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not options["yes"]
    if interactive and not body.get("dry_run"):
        plan = {**body, "dry_run": True, "request_id": body["request_id"] + "-plan"}
        planned = _run(session, plan, options)
        _print_record(planned, utc_now())
        if exit_code_for(planned) != 0:
            return exit_code_for(planned)
        click.confirm("Run this restore?", abort=True)
    final = _run(session, body, options)
    while interactive and records.refused(final) and (name := records.required_confirm(final)):
        _print_record(final, utc_now())
        typed = click.prompt(f"This overwrites production. Type {name} to confirm", default="")
        if typed != name:
            raise click.Abort
        body = {**body, "confirm": name, "request_id": body["request_id"] + "-confirmed"}
        final = _run(session, body, options)
    if not final:
        return 0
    if options["as_json"]:
        output.print_json(final)
    else:
        _print_record(final, utc_now())
    return exit_code_for(final)


def _run(session: Session, body: dict[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """Publish ``body``; follow it unless ``--no-wait`` (then an empty record)."""
    message_id = session.publish("restore", body)
    request_id = body["request_id"]
    click.echo(f"published restore request {request_id} (message {message_id})", err=True)
    if options["no_wait"]:
        click.echo(f"follow it with: dr status {request_id} --follow", err=True)
        return {}
    return _run_follow(session, request_id, options["timeout"])


def recent(session: Session, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most recently updated status records, newest first."""
    from shared import storage

    bucket = session.state_bucket()
    with storage.translate_errors(f"listing gs://{bucket.name}/{PREFIX}"):
        blobs = [
            blob
            for blob in bucket.client.list_blobs(bucket, prefix=PREFIX,
                                                 fields="items(name,updated),nextPageToken")
            if blob.name.endswith("/status.json")
        ]  # fmt: skip
    blobs.sort(key=lambda blob: blob.updated, reverse=True)
    store = session.status_store()
    found = [store.get(blob.name[len(PREFIX) : -len("/status.json")]) for blob in blobs[:limit]]
    return [dict(record.data) for record in found if record is not None]


def running(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Requests among the recent ones that have not ended."""
    if session.settings.state_bucket is None:
        return []
    now = utc_now()
    return [
        records.summary(record, now)
        for record in recent(session, limit)
        if record.get("phase") not in FINAL_PHASES | {"Planned", "Refused"}
    ]


@click.command("restores")
@click.option("--limit", default=20, show_default=True, help="how many requests")
@output.json_flag
@click.pass_obj
def restores(session: Session, limit: int, as_json: bool) -> int:
    """Recent restore requests: phase, target, backup, destination, duration, who asked."""
    now = utc_now()
    rows = [records.summary(record, now) for record in recent(session, limit)]
    if as_json:
        output.print_json(rows)
        return 0
    columns = ("request", "target", "phase", "backup", "destination", "took", "by")
    output.show(output.table("Restore requests, newest first", columns, [
        (r["request_id"], f"{r['target']} {r['mode']}".strip(), r["phase"], r["backup"],
         r["destination"], f"{r['seconds']:.1f} s", r["requested_by"])
        for r in rows
    ]))  # fmt: skip
    return 0


@click.command("status")
@click.argument("request_id")
@click.option("--follow", "keep_following", is_flag=True, help="follow it until it ends")
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="seconds")
@output.json_flag
@click.pass_obj
def status(
    session: Session, request_id: str, keep_following: bool, timeout: float, as_json: bool
) -> int:
    """One restore request, readably (raw JSON with --json)."""
    try:
        record = session.status_store().require(request_id)
    except NotFound as exc:
        if request_id.isdigit():  # a Pub/Sub message id
            raise NotFound(f"{exc}; did you mean msg-{request_id}?") from None
        raise
    data = dict(record.data)
    if keep_following and not record.final:
        data = _run_follow(session, request_id, timeout)
    if as_json:
        output.print_json(data)
    else:
        _print_record(data, utc_now())
    return exit_code_for(data)


def _run_follow(session: Session, request_id: str, timeout: float) -> dict[str, Any]:
    try:
        return dict(follow(session.status_store(), request_id, timeout))
    except Detached as stop:
        click.echo(
            f"{stop.why}: the restore goes on. Follow it again with: "
            f"dr status {request_id} --follow",
            err=True,
        )
        code = INTERRUPTED if "Ctrl-C" in stop.why else ConflictError.exit_code
        raise click.exceptions.Exit(code) from None


def _print_record(data: Mapping[str, Any], now: datetime) -> None:
    head = records.summary(data, now)
    result = data.get("result") or {}
    started = datetime.fromisoformat(str(data["created"]))
    phases = " → ".join(
        f"{p['phase']} +{(datetime.fromisoformat(p['at']) - started).total_seconds():.1f}s"
        for p in data.get("phases") or []
    )
    rows = [
        ("request", f"{head['request_id']} ({head['requested_by']})"),
        ("target", f"{head['target']} {head['mode']}".strip()),
        ("phase", data.get("phase")),
        ("phases", phases),
        ("backup", result.get("backup") or data.get("backup")),
        ("destination", head["destination"]),
        ("verified", result.get("verified")),
        ("counts", output.counts(result.get("counts") or {})),
        ("progress", output.counts(data.get("progress") or {})),
        ("took", f"{head['seconds']:.1f} s" + ("" if data.get("finished") else " so far")),
    ]
    rows += [("error", error) for error in data.get("errors") or []]
    rows += [("note", note) for note in result.get("notes") or []]
    rows += [("plan", line) for line in result.get("plan") or []]
    output.show(output.table(None, ("", ""), [r for r in rows if r[1] not in (None, "")]))
