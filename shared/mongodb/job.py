"""The MongoDB job's entry point: ``python -m shared.mongodb.job COMMAND [flags]``.

Commands, with the old scripts' flags:

* ``backup [--config FILE] [--type daily] [--run-id ID] [--dry-run]``
  (``mongodb_backup.sh --config FILE``); ``--tier`` is a synonym of ``--type``.
* ``restore [--config FILE] --date 2025-03-25 [--type daily] [--hour 14]
  [--target-db NAME] [--test-mode] [--drop] [--confirm NAME] [--dry-run]``
  (``mongodb_restore.sh``'s flags, one for one), and mongorestore's
  ``--nsInclude/--nsExclude/--nsFrom/--nsTo`` as repeatable ``--ns-include``,
  ``--ns-exclude``, ``--ns-from``, ``--ns-to``.
* ``verify --date ... [--type ...] [--hour ...]``: check a backup's archive
  against its manifest end to end, writing nothing.
* ``unpack SOURCE DIR [--key-file FILE]...``: decrypt, decompress and unpack an
  archive (a ``gs://`` run, manifest or archive path, or a local file) into
  mongodump's directory layout, for ``mongorestore`` or inspection.

In Cloud Run the container runs with no arguments and the execution's
environment says what to do: ``DR_JOB_COMMAND`` (``backup`` or ``restore``),
with ``DR_TIER``/``DR_RUN_ID``/``DR_DRY_RUN`` for a backup and
``DR_RESTORE_REQUEST`` (the ``dr-restore`` JSON body) and ``DR_REQUEST_ID`` for
a restore. Exit status: 0 on success, else the error class's code
(:mod:`shared.errors`), 70 for an unexpected failure; the reason is logged. A
restore's exit code follows from its phase (:mod:`shared.restore.ending`):
the same request exits the same way here as its status record says.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from shared import logs
from shared.clock import utc_now
from shared.errors import DRError, RequestError
from shared.events import strict_json
from shared.manifest import TIERS
from shared.mongodb import commands, jobenv
from shared.mongodb.request import NS_FIELDS, TARGET, MongoRestoreRequest

log = logging.getLogger("shared.mongodb.job")
EX_SOFTWARE = 70


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help='a .conf file in the old scripts\' KEY="value" format')
    common.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=argparse.SUPPRESS,  # before or after the command, whichever parser saw it
        help="readable lines or Cloud Logging JSON (default: text on a terminal, else JSON)",
    )
    top = argparse.ArgumentParser(prog="python -m shared.mongodb.job", parents=[common])
    sub = top.add_subparsers(dest="command")
    backup = sub.add_parser("backup", parents=[common], help="dump, upload, commit, prune")
    backup.add_argument("--type", "--tier", dest="tier", choices=TIERS)
    backup.add_argument("--run-id")
    backup.add_argument("--dry-run", action="store_true", help="list what would be dumped")
    restore = sub.add_parser("restore", parents=[common], help="restore a backup")
    verify = sub.add_parser("verify", parents=[common], help="check a backup, writing nothing")
    for command in (restore, verify):
        command.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD")
        command.add_argument("--type", choices=TIERS)
        command.add_argument("--hour", type=int)
    restore.add_argument("--target-db")
    restore.add_argument("--test-mode", action="store_true")
    restore.add_argument("--drop", action="store_true", help="drop collections before restoring")
    restore.add_argument("--confirm", help="the production database name, to overwrite it")
    restore.add_argument("--dry-run", action="store_true")
    for name in NS_FIELDS:
        restore.add_argument("--" + name.replace("_", "-"), action="append", help="repeatable")
    unpack = sub.add_parser("unpack", parents=[common], help="unpack into mongodump's layout")
    unpack.add_argument("source", help="gs://bucket/... (run, manifest or archive) or a file")
    unpack.add_argument("directory", type=Path, help="a new or empty directory")
    unpack.add_argument("--key-file", action="append", default=[], help="repeatable")
    return top


def _request(args: argparse.Namespace) -> MongoRestoreRequest:
    if args.date is None:
        raise RequestError(f"{args.command} needs --date YYYY-MM-DD")
    body = {
        "date": args.date.isoformat(),
        "type": args.type,
        "hour": args.hour,
        "target_db": getattr(args, "target_db", None),
        "test_mode": getattr(args, "test_mode", False) or None,
        "drop": getattr(args, "drop", False) or None,
        "confirm": getattr(args, "confirm", None),
        "dry_run": getattr(args, "dry_run", False) or None,
        **{name: getattr(args, name, None) for name in NS_FIELDS},
    }
    return MongoRestoreRequest.from_message({k: v for k, v in body.items() if v is not None})


def _restore_request(args: argparse.Namespace, environ: Mapping[str, str]) -> MongoRestoreRequest:
    """From ``DR_RESTORE_REQUEST`` (an execution the dispatcher started), else the flags."""
    raw = environ.get(jobenv.RESTORE_REQUEST) if args.date is None else None
    if raw is None:
        return _request(args)
    body = strict_json(raw.encode("utf-8", "surrogateescape"), jobenv.RESTORE_REQUEST)
    return MongoRestoreRequest.from_message(body)


def _from_environment(environ: Mapping[str, str]) -> list[str]:
    """The command line an execution's environment stands for (when run without arguments)."""
    command = environ.get(jobenv.COMMAND, "")
    if command not in ("backup", "restore"):
        raise RequestError(f"no command given and {jobenv.COMMAND} is {command!r}")
    return [command]


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    config_file = args.config
    if args.command == "backup":
        return commands.backup_command(
            config_file=config_file,
            tier=args.tier or environ.get(jobenv.TIER) or "daily",
            run_id=args.run_id or environ.get(jobenv.RUN_ID) or None,
            dry_run=args.dry_run or environ.get(jobenv.DRY_RUN, "").lower() == "true",
            environ=environ,
            clock=utc_now,
        )
    if args.command == "restore":
        request_id = environ.get(jobenv.REQUEST_ID) or None
        try:
            return commands.restore_command(
                config_file=config_file,
                request=_restore_request(args, environ),
                request_id=request_id,
                environ=environ,
                clock=utc_now,
            )
        except Exception as exc:  # a dispatcher's request that could not even start ends here
            if request_id:
                commands.end_request(config_file, request_id, exc, environ, utc_now)
            raise
    if args.command == "verify":
        return commands.verify_command(
            config_file=config_file, request=_request(args), environ=environ
        )
    return commands.unpack_command(
        source=args.source,
        directory=args.directory,
        key_files=args.key_file,
        config_file=config_file,
        environ=environ,
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    logs.configure()
    argv = list(sys.argv[1:] if argv is None else argv)
    run_id = environ.get(jobenv.RUN_ID) or environ.get(jobenv.REQUEST_ID)
    with logs.run_context(target=TARGET, **({"run_id": run_id} if run_id else {})):
        try:
            args = parser().parse_args(argv or _from_environment(environ))
            if args.command is None:
                args = parser().parse_args([*argv, *_from_environment(environ)])
            if getattr(args, "log_format", None):
                logs.configure(human=args.log_format == "text")
            return run(args, environ)
        except DRError as exc:
            log.error(
                "%s: %s",
                type(exc).__name__,
                exc,
                extra={"fields": {"error_type": type(exc).__name__, "exit_code": exc.exit_code}},
            )
            return exc.exit_code
        except Exception:
            log.exception("the MongoDB job failed unexpectedly")
            return EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
